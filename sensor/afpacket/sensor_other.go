//go:build !linux

package afpacket

import (
	"context"
	"errors"

	"github.com/tuninetd/tuninetd/bpfc"
	"github.com/tuninetd/tuninetd/sensor"
)

// errUnsupported is returned by Open where AF_PACKET does not exist.
var errUnsupported = errors.New("afpacket: packet capture needs Linux")

// Sensor is the capture sensor; on this system it cannot be opened.
type Sensor struct{}

// Open fails: AF_PACKET is Linux-only.
func Open(cfg Config) (*Sensor, error) { return nil, errUnsupported }

// LinkType reports the framing of captured packets.
func (s *Sensor) LinkType() bpfc.LinkType { return bpfc.EN10MB }

// Kind reports sensor.Pcap.
func (s *Sensor) Kind() sensor.Kind { return sensor.Pcap }

// Run fails: there is nothing to capture with.
func (s *Sensor) Run(ctx context.Context, sink sensor.Sink) error { return errUnsupported }

// SetMode does nothing.
func (s *Sensor) SetMode(m sensor.Mode) {}

// Origin reports nothing: there is no capture here.
func (s *Sensor) Origin() sensor.Origin { return sensor.Origin{} }

// Stats returns nothing.
func (s *Sensor) Stats() []string { return nil }

// Close does nothing.
func (s *Sensor) Close() error { return nil }
