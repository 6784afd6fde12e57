//go:build unix

package core

import (
	"testing"
	"time"

	"github.com/tuninetd/tuninetd/bpfc"
	"github.com/tuninetd/tuninetd/sensor"
)

func rawPacket() *sensor.Packet {
	return &sensor.Packet{Data: []byte{0x45}, LinkType: bpfc.RAW, Sensor: sensor.Pcap}
}

// TestSinkArming: a disarmed sink (up state) never wakes the loop, an
// armed one wakes it once per period, and packets stamped before the
// period began do not trigger.
func TestSinkArming(t *testing.T) {
	clk := NewFakeClock()
	wake := make(chan struct{}, 1)
	s := newSink(0, clk, clk.Now(), wake)

	for range 1000 { // disarmed, as in up state: activity only
		s.Seen(clk.Now(), rawPacket())
	}
	if len(wake) != 0 || s.armedTrigger() != nil {
		t.Fatal("disarmed sink woke the loop or stored a trigger")
	}
	if got := s.last.Load(); got != 0 {
		t.Fatalf("last %d, want 0", got)
	}

	old := clk.Now()
	clk.Advance(time.Second)
	s.armAt(int64(clk.Elapsed()))
	s.Seen(old, rawPacket()) // seen before the period began
	if s.armedTrigger() != nil || len(wake) != 0 {
		t.Fatal("an old packet triggered")
	}
	s.Seen(clk.Now(), nil) // no packet: never a trigger
	if s.armedTrigger() != nil {
		t.Fatal("packet-less activity triggered")
	}
	first := rawPacket()
	s.Seen(clk.Now(), first)
	for range 100 {
		s.Seen(clk.Now(), rawPacket())
	}
	if tr := s.armedTrigger(); tr == nil || tr.p != first {
		t.Fatal("first packet of the period not kept")
	}
	if len(wake) != 1 {
		t.Fatalf("%d wakes", len(wake))
	}
	<-wake

	// A new period invalidates the old trigger.
	s.disarm()
	s.armAt(int64(clk.Elapsed()))
	if s.armedTrigger() != nil {
		t.Fatal("trigger survived re-arming")
	}
}

// TestSinkNeverBlocks: Seen returns even when nobody runs the loop.
func TestSinkNeverBlocks(t *testing.T) {
	l := newTestLoop(Config{Clock: NewFakeClock()}, newFakeSensor(sensor.Pcap), newFakeSensor(sensor.NFLOG))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 10000 {
			l.sinks[i%2].Seen(time.Now(), rawPacket())
			l.sinks[i%2].armAt(int64(i))
		}
	}()
	select {
	case <-done:
	case <-time.After(waitLimit):
		t.Fatal("Seen blocked")
	}
}

// TestSinkFutureStampClamped: a stamp from the future counts as now, so
// it cannot postpone a stop.
func TestSinkFutureStampClamped(t *testing.T) {
	clk := NewFakeClock()
	s := newSink(0, clk, clk.Now(), make(chan struct{}, 1))
	s.Seen(clk.Now().Add(time.Hour), nil)
	if got := s.last.Load(); got != 0 {
		t.Fatalf("last %v, want 0 (now)", time.Duration(got))
	}
}
