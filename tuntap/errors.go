package tuntap

import "errors"

// ErrBusy is wrapped by attach errors when another process holds the
// device: a tun/tap device without IFF_MULTI_QUEUE takes one reader only.
var ErrBusy = errors.New("device is held by another process")
