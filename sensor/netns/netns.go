// Package netns puts sockets and devices into another network namespace:
// a socket, a netlink subscription or a tun/tap descriptor belongs to the
// namespace of the thread that creates it, and keeps it for its whole
// life, whichever thread uses it later.
//
// NS.Do is the one way the sensors, the link watcher and the tun/tap
// holder create anything in a namespace: it runs a function on an OS
// thread switched into the namespace and switches the thread back before
// handing it to the scheduler again, so no other goroutine ever runs in
// the wrong namespace. A nil *NS is the caller's own namespace: Do then
// just calls the function, and nothing needs CAP_SYS_ADMIN.
package netns

import "errors"

// ErrNotNetns is wrapped by Open's error for a path that exists but is
// not a network namespace (a regular file, another kind of namespace).
var ErrNotNetns = errors.New("not a network namespace")
