package nflog

import (
	"errors"
	"fmt"
)

// ErrGroupBusy is matched (errors.Is) by the error Open returns when
// another netlink socket is bound to the group: a second tuninetd,
// "tcpdump -i nflog:N", ulogd and the like.
var ErrGroupBusy = errors.New("bound by another program")

// BindError is Open's error when the kernel refuses to bind the group.
type BindError struct {
	// Group is the NFLOG group that could not be bound.
	Group uint16
	// Busy is set when another socket holds the group.
	Busy bool
	// Holder describes the holding program when it could be found
	// ("tcpdump, pid 1234"), else the netlink port id, else "".
	Holder string
	// Err is the kernel's answer (EPERM for a busy group or a missing
	// CAP_NET_ADMIN).
	Err error

	hint string // likely cause when not busy
}

// Error names the group and, for a busy group, says who holds it, so the
// line is self-explanatory wherever it is printed.
func (e *BindError) Error() string {
	if e.Busy {
		who := ""
		if e.Holder != "" {
			who = " (" + e.Holder + ")"
		}
		return fmt.Sprintf("nflog group %d is already bound by another program%s: "+
			"another tuninetd, \"tcpdump -i nflog:%d\" or ulogd may hold it; stop it or use another group: %v",
			e.Group, who, e.Group, e.Err)
	}
	hint := ""
	if e.hint != "" {
		hint = " (" + e.hint + ")"
	}
	return fmt.Sprintf("nflog group %d: kernel refused to bind it%s: %v", e.Group, hint, e.Err)
}

// Unwrap returns ErrGroupBusy for a busy group, else the kernel's error.
// A busy group deliberately does not unwrap to EPERM: it is not a
// permission problem, and callers adding "needs CAP_NET_ADMIN" hints on
// EPERM would mislead.
func (e *BindError) Unwrap() error {
	if e.Busy {
		return ErrGroupBusy
	}
	return e.Err
}
