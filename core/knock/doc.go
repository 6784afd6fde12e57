// Package knock is tportknockd's logic without I/O: knock events and
// their frames, the state of every source's progress through every
// event's sequence, the kernel filter that passes only knock candidates,
// and the %IP% substitution of the commands.
//
// A frame is tcp|udp:PORT[:FLAGS]. For TCP, FLAGS name the exact set of
// FIN SYN RST PSH ACK URG that must be set (f s r p a u; x all six; n
// none, the default), or i to accept any flags. ECE and CWR are never
// tested: an ECN-capable stack sets them on the SYNs it sends, and a knock
// must not depend on the sender's ECN setting.
//
// State is per (event, source address): the frames done and a deadline,
// the first frame's time plus the event's timeout. A packet that is the
// next frame advances; a packet that is another frame of the event resets
// that source's progress and is then tried as the first frame; any other
// packet leaves it alone; the deadline passing resets it. The last frame
// completes the sequence: the start command runs, and with a stop command
// the stop runs the command delay later, once per start. Sources and
// events never disturb one another. The table of progress is bounded and
// drops the least recently seen source when full.
package knock
