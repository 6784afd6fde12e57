#!/bin/sh
# Runs an OpenWrt procd init script outside OpenWrt: stand-ins for the
# functions rc.common, functions.sh and procd.sh provide, a UCI file read
# the way `uci export` output is (it is shell syntax), and every procd and
# logger call recorded to $STUB_OUT, one call a line, the call's name and
# each argument terminated by a NUL byte.
#
# usage: procd-stubs.sh INIT UCI_FILE OUT
# shellcheck shell=dash
set -eu

STUB_INIT=$1
STUB_UCI=$2
STUB_OUT=$3
: >"$STUB_OUT"

record() {
	printf '%s\0' "$@" >>"$STUB_OUT"
	printf '\n' >>"$STUB_OUT"
}

# UCI, as functions.sh keeps it: sections in file order, an anonymous one
# named cfgN (N counting every section so far), the type stored as the
# option TYPE, and config_cb/option_cb called for each section and
# option (the init script may define them; these are the defaults).
STUB_SECTIONS=''
STUB_COUNT=0
CONFIG_SECTION=''
config_cb() { :; }
option_cb() { :; }
config() {
	STUB_COUNT=$((STUB_COUNT + 1))
	CONFIG_SECTION=${2:-cfg$STUB_COUNT}
	STUB_SECTIONS="$STUB_SECTIONS $CONFIG_SECTION"
	eval "STUB_OPT_${CONFIG_SECTION}_TYPE=\$1"
	config_cb "$1" "$CONFIG_SECTION"
}
option() {
	eval "STUB_OPT_${CONFIG_SECTION}_$1=\$2"
	option_cb "$1" "$2"
}
# A list keeps its items as OPTION_ITEMn and their count as
# OPTION_LENGTH, and calls list_cb, as functions.sh does.
list_cb() { :; }
list() {
	local n
	eval "n=\${STUB_OPT_${CONFIG_SECTION}_$1_LENGTH-0}"
	n=$((n + 1))
	eval "STUB_OPT_${CONFIG_SECTION}_$1_ITEM$n=\$2"
	eval "STUB_OPT_${CONFIG_SECTION}_$1_LENGTH=$n"
	list_cb "$1" "$2"
}
config_list_foreach() {
	# config_list_foreach SECTION OPTION FUNCTION [ARGS...]
	local section=$1 opt=$2 fn=$3 len c=1 val
	shift 3
	config_get len "$section" "${opt}_LENGTH"
	[ -n "$len" ] || return 0
	while [ "$c" -le "$len" ]; do
		config_get val "$section" "${opt}_ITEM$c"
		"$fn" "$val" "$@"
		c=$((c + 1))
	done
}

config_load() {
	record config_load "$@"
	# shellcheck source=/dev/null
	. "$STUB_UCI"
}
config_get() {
	# config_get VAR SECTION OPTION [DEFAULT]
	eval "$1=\${STUB_OPT_${2}_$3-\${4-}}"
}
config_get_bool() {
	local _v
	config_get _v "$2" "$3" "${4-}"
	case "$_v" in
	1 | on | true | yes | enabled) _v=1 ;;
	0 | off | false | no | disabled) _v=0 ;;
	*) _v=${4-} ;;
	esac
	eval "$1=\$_v"
}
config_foreach() {
	local fn=$1 type=$2 s t
	shift 2
	for s in $STUB_SECTIONS; do
		eval "t=\$STUB_OPT_${s}_TYPE"
		[ "$t" = "$type" ] || continue
		"$fn" "$s" "$@"
	done
}

procd_open_instance() { record procd_open_instance "$@"; }
procd_set_param() { record procd_set_param "$@"; }
procd_append_param() { record procd_append_param "$@"; }
procd_close_instance() { record procd_close_instance "$@"; }
procd_add_reload_trigger() { record procd_add_reload_trigger "$@"; }
logger() { record logger "$@"; }

# rc.common's job: source the script, then call what `start` calls.
# shellcheck source=/dev/null
. "$STUB_INIT"
record USE_PROCD "${USE_PROCD-}"
start_service
service_triggers
