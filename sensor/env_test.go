package sensor_test

import (
	"github.com/tuninetd/tuninetd/core"
	"github.com/tuninetd/tuninetd/sensor"
)

// The decoder's test tables also state the command environment each
// packet gives; it is checked against the one builder of it, core's.
func init() {
	sensor.PacketEnv = func(s sensor.Summary) []string {
		var t core.Trigger
		t.SetPacket(s)
		return t.Env("TUNINETD_").Vars()
	}
}
