//go:build !linux

package nflog

import (
	"context"
	"errors"

	"github.com/tuninetd/tuninetd/sensor"
)

// Sensor is the NFLOG sensor; it exists only on Linux.
type Sensor struct{ cfg Config }

// Open fails: nfnetlink_log is Linux-only.
func Open(cfg Config) (*Sensor, error) {
	return nil, errors.New("nflog: netfilter logging needs Linux")
}

// Kind returns sensor.NFLOG.
func (s *Sensor) Kind() sensor.Kind { return sensor.NFLOG }

// Run returns at once: there is nothing to read.
func (s *Sensor) Run(ctx context.Context, sink sensor.Sink) error { return nil }

// SetMode does nothing.
func (s *Sensor) SetMode(m sensor.Mode) {}

// Origin reports the NFLOG group the sensor is bound to.
func (s *Sensor) Origin() sensor.Origin {
	return sensor.Origin{NFLOGGroup: s.cfg.Group, HasNFLOGGroup: true}
}

// Stats returns nothing.
func (s *Sensor) Stats() []string { return nil }

// Close does nothing.
func (s *Sensor) Close() error { return nil }
