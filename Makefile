# tuninetd: build, test, cross-compile, demo. Pure Go, CGO off everywhere.

GO      ?= go
# The version lives in one place, cmd/internal/version; `make VERSION=x`
# overrides it for a release build.
VERSION_VAR := github.com/tuninetd/tuninetd/cmd/internal/version.Version
VERSION ?= $(shell sed -n 's/^var Version = "\(.*\)"$$/\1/p' cmd/internal/version/version.go)
LDFLAGS := -s -w -X $(VERSION_VAR)=$(VERSION)
# -buildvcs=false: the version comes from VERSION, and VCS stamping fails
# when root (sudo make demo) builds a checkout another user owns.
# Packages that run at start-up or on rare events (the filter compiler,
# the command lines, device and namespace handling) are compiled without
# inlining: on linux/mipsle that is about 120 KB less code and tables, two
# 64 KB segment steps of the stripped file.
# The per-packet paths (sensor, afpacket, nflog, dnsq, core, core/knock)
# keep it: their helpers cost about twice as much without.
NOINLINE := bpfc/... cmd/... tuntap sensor/savefile sensor/linkwatch sensor/netns
GCFLAGS  := $(foreach p,$(NOINLINE),-gcflags=github.com/tuninetd/tuninetd/$(p)=-l)
GOBUILD := $(GO) build -buildvcs=false -trimpath $(GCFLAGS) -ldflags "$(LDFLAGS)"
BUILD   := CGO_ENABLED=0 $(GOBUILD)

# The multi-call binary is cmd/tuninetd; these names of it are links to it
# (it picks the daemon by the name it is run by). cmd/bpfc is a separate
# developer tool.
DAEMON_LINKS := tuntapd tportknockd
# os/arch[/variant] targets of `make cross`.
CROSS_TARGETS := amd64 386 arm64 arm/5 arm/7 mips mipsle

# Pure packages whose tests must also pass big-endian under qemu-user.
MIPS_PKGS := ./bpfc/... ./sensor ./sensor/savefile ./sensor/dnsq ./core ./cmd/internal/getopt ./cmd/internal/logsink ./cmd/internal/config ./cmd/internal/cli ./cmd/tuninetd ./core/knock
# The unit tests of packages that also have integration tests (those need
# root and namespaces, which qemu-user does not give): the daemons' and
# linkwatch's decoder. (tportknockd's -l test reads netlink answers, which
# qemu-user passes through in the host's byte order.)
MIPS_CMD_PKGS := ./cmd/internal/tuninetd ./cmd/internal/tuntapd ./sensor/linkwatch ./cmd/internal/tportknockd
MIPS_CMD_TESTS := ^(TestParse|FuzzParse|TestParseCommandLine|TestParseCommandLineExits|TestUsageText|TestOptionTable|TestOptionSources|TestConfigFile|TestConfigFileErrors|TestReportLines|TestWrongFilter|TestCheckCommand|TestParseArgs|TestParseArgsConfig|TestParseAddr|TestParseConfig|TestParseConfigDefaults|TestParseConfigErrors|TestExampleConfig|FuzzParseConfig|TestCheckConfig|TestCommandLineErrors|TestHelpAndVersion|TestMissingDevice|TestDNSOptions)$$

.PHONY: all build test vet unit test-mips cross bench demo clean install uninstall deb FORCE

all: build

# bin/tuninetd (the multi-call binary), bin/tuntapd (a symlink to it) and
# bin/bpfc.
build:
	@mkdir -p bin
	$(BUILD) -o bin/ ./cmd/tuninetd ./cmd/bpfc
	@for l in $(DAEMON_LINKS); do ln -sfn tuninetd bin/$$l; done

# The whole suite, as CI runs it (.ci/run): formatting, vet, every test
# (integration tests need root; with TUNINETD_REQUIRE_NETNS=1 they fail
# instead of skipping), then the pure packages on big-endian mips.
test: vet unit test-mips

vet:
	@out=$$(gofmt -l $$(find . -name '*.go' -not -path './.git/*' -not -path '*/testdata/*')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

unit:
	CGO_ENABLED=0 $(GO) test -count=1 -timeout 30m ./...

test-mips:
	@if ! command -v qemu-mips-static >/dev/null 2>&1; then \
		if [ "$${CI:-}" = true ]; then \
			echo "qemu-mips-static is missing (CI=true): apt-get install qemu-user-static" >&2; exit 1; \
		fi; \
		echo "NOTE: qemu-mips-static not installed: big-endian mips tests NOT run" >&2; exit 0; \
	fi; \
	set -e; \
	CGO_ENABLED=0 GOARCH=mips GOMIPS=softfloat $(GO) test -count=1 -timeout 20m -exec qemu-mips-static $(MIPS_PKGS); \
	CGO_ENABLED=0 GOARCH=mips GOMIPS=softfloat $(GO) test -count=1 -timeout 5m -exec qemu-mips-static -run '$(MIPS_CMD_TESTS)' $(MIPS_CMD_PKGS)

# The stripped static multi-call binary for every target, with its size
# and its size after xz -9 (how routers' firmware images store it).
# Budget, linux/mipsle with every daemon: 3,670,016 bytes stripped and
# 1,000,000 after xz -9.
cross:
	@mkdir -p dist
	@command -v xz >/dev/null || { echo "make cross: xz is missing (apt-get install xz-utils)" >&2; exit 1; }
	@printf '%-28s %10s %10s\n' binary stripped 'xz -9'
	@set -e; for t in $(CROSS_TARGETS); do \
		arch=$${t%/*}; variant=$${t#*/}; suffix=$$arch; env="GOOS=linux GOARCH=$$arch"; \
		case $$arch in \
			arm) env="$$env GOARM=$$variant"; suffix=armv$$variant ;; \
			mips|mipsle) env="$$env GOMIPS=softfloat" ;; \
		esac; \
		out=dist/tuninetd-linux-$$suffix; \
		env $$env CGO_ENABLED=0 $(GOBUILD) -o $$out ./cmd/tuninetd; \
		printf '%-28s %10d %10d\n' $$out $$(stat -c %s $$out) $$(xz -9 -c $$out | wc -c); \
	done

# `make install`: PREFIX and DESTDIR as usual; the systemd units get the
# paths rewritten to SBINDIR and SYSCONFDIR.
PREFIX     ?= /usr/local
SBINDIR    ?= $(PREFIX)/sbin
MANDIR     ?= $(PREFIX)/share/man
DOCDIR     ?= $(PREFIX)/share/doc/tuninetd
UNITDIR    ?= $(PREFIX)/lib/systemd/system
SYSCONFDIR ?= /etc
INSTALL    ?= install

# The binary, its links, man pages, systemd units, documentation and the
# example configuration. Builds first when Go is on PATH (sudo often
# resets PATH; then run `make` as yourself first).
install:
	@if command -v $(GO) >/dev/null 2>&1; then $(MAKE) --no-print-directory build; \
	elif [ ! -x bin/tuninetd ]; then echo "no $(GO) on PATH and no bin/tuninetd: run 'make' first" >&2; exit 1; fi
	$(INSTALL) -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(DOCDIR) \
		$(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSCONFDIR)/tuninetd
	$(INSTALL) -m 0755 bin/tuninetd $(DESTDIR)$(SBINDIR)/tuninetd
	for l in $(DAEMON_LINKS); do ln -sfn tuninetd $(DESTDIR)$(SBINDIR)/$$l; done
	$(INSTALL) -m 0644 man/tuninetd.8 man/tuntapd.8 man/tportknockd.8 $(DESTDIR)$(MANDIR)/man8/
	$(INSTALL) -m 0644 LICENSE CHANGELOG.md README.md examples/tportknockd.conf $(DESTDIR)$(DOCDIR)/
	for u in packaging/systemd/*.service; do \
		sed -e 's|/usr/sbin/|$(SBINDIR)/|g' -e 's|/etc/tuninetd/|$(SYSCONFDIR)/tuninetd/|g' $$u > $(DESTDIR)$(UNITDIR)/$${u##*/} && \
		chmod 0644 $(DESTDIR)$(UNITDIR)/$${u##*/} || exit 1; \
	done
	$(INSTALL) -m 0644 packaging/example.conf $(DESTDIR)$(SYSCONFDIR)/tuninetd/example.conf

# Removes what install put there, except configuration in SYSCONFDIR
# other than the example.
uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/tuninetd $(addprefix $(DESTDIR)$(SBINDIR)/,$(DAEMON_LINKS)) \
		$(DESTDIR)$(MANDIR)/man8/tuninetd.8 $(DESTDIR)$(MANDIR)/man8/tuntapd.8 $(DESTDIR)$(MANDIR)/man8/tportknockd.8 \
		$(addprefix $(DESTDIR)$(UNITDIR)/,$(notdir $(wildcard packaging/systemd/*.service))) \
		$(DESTDIR)$(SYSCONFDIR)/tuninetd/example.conf
	rm -rf $(DESTDIR)$(DOCDIR)

# Debian packages, one per architecture, by nfpm run as a tool (pinned;
# never a dependency of this module): DEBDIR/tuninetd_VERSION_ARCH.deb.
NFPM_VERSION   := v2.48.0
NFPM           ?= $(GO) run github.com/goreleaser/nfpm/v2/cmd/nfpm@$(NFPM_VERSION)
DEB_ARCHS      := amd64 arm64 armhf
DEBDIR         ?= dist
DEB_MAINTAINER ?= tuninetd developers <noreply@tuninetd.invalid>
# Debian architecture -> Go's.
deb_goarch = $(if $(filter armhf,$(1)),GOARCH=arm GOARM=7,GOARCH=$(1))

deb: $(DEB_ARCHS:%=$(DEBDIR)/tuninetd_$(VERSION)_%.deb)

$(DEBDIR)/tuninetd_$(VERSION)_%.deb: FORCE
	@rm -rf $(DEBDIR)/deb-$* && mkdir -p $(DEBDIR)/deb-$*
	env GOOS=linux $(call deb_goarch,$*) CGO_ENABLED=0 $(GOBUILD) -o $(DEBDIR)/deb-$*/tuninetd ./cmd/tuninetd
	for m in tuninetd.8 tuntapd.8 tportknockd.8; do gzip -9n < man/$$m > $(DEBDIR)/deb-$*/$$m.gz || exit 1; done
	gzip -9n < CHANGELOG.md > $(DEBDIR)/deb-$*/changelog.gz
	{ cat packaging/deb/copyright.head; sed -e 's/^$$/./' -e 's/^/ /' LICENSE; } > $(DEBDIR)/deb-$*/copyright
	cp packaging/systemd/*.service packaging/example.conf examples/tportknockd.conf packaging/deb/postinst packaging/deb/postrm $(DEBDIR)/deb-$*/
	cd $(DEBDIR)/deb-$* && DEB_ARCH=$* DEB_VERSION=$(VERSION) DEB_MAINTAINER='$(DEB_MAINTAINER)' \
		$(NFPM) package --packager deb --config $(CURDIR)/packaging/deb/nfpm.yaml --target $(abspath $@)

FORCE:

# Benchmarks against tcpdump on veth traffic in a throwaway namespace
# (root), tportknockd's CPU and memory under floods (TPORTKNOCKD_BENCH
# frames, default 1,000,000) and the knock table's size. They print
# figures and assert nothing.
bench:
	CGO_ENABLED=0 $(GO) test -run '^$$' -bench . -benchtime 1x -timeout 900s -v ./sensor/afpacket/
	TUNINETD_NFLOG_BENCH=1000000 CGO_ENABLED=0 $(GO) test -count=1 -run '^TestNFLOGBenchmark$$' -timeout 900s -v ./sensor/nflog/
	TUNINETD_DNS_BENCH=1000000 CGO_ENABLED=0 $(GO) test -count=1 -run '^TestDNSBenchmark$$' -timeout 900s -v ./cmd/internal/tuninetd/
	CGO_ENABLED=0 $(GO) test -run '^$$' -bench . -benchtime 1x -timeout 900s -v ./cmd/internal/tportknockd/
	CGO_ENABLED=0 $(GO) test -run '^$$' -bench Flood -benchtime 3x -v ./core/knock/

# A throwaway namespace with a tun device: traffic starts the example
# script, silence stops it (root). Builds first when Go is on PATH (sudo
# often resets PATH; then run `make` as yourself first).
demo:
	@if command -v $(GO) >/dev/null 2>&1; then $(MAKE) --no-print-directory build; \
	elif [ ! -x bin/tuninetd ]; then echo "no $(GO) on PATH and no bin/tuninetd: run 'make' first" >&2; exit 1; fi
	bash examples/demo.sh

clean:
	rm -rf bin dist
