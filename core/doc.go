// Package core is tuninetd's event loop: the standby/up state machine, the
// idle deadline, signal handling, and the runner that executes the user's
// command.
//
// # The loop
//
// NewLoop takes a Config and the sensors; Run drives them until its
// context ends or SIGTERM/SIGINT arrives. One goroutine, the one calling
// Run, owns every piece of state:
//
//   - the state machine: standby, starting, up, stopping; which sensor and
//     which packet started the current up period; the holdoff after a stop;
//   - the command slot: at most one command runs, and start and stop
//     strictly alternate (a stop that becomes due while start runs waits
//     for it);
//   - signal requests: SIGHUP queues a stop, SIGUSR1 is answered at once,
//     also while a command runs;
//   - the one timer, aimed at the idle deadline (last activity + TTL) or
//     the end of the holdoff, on the injected Clock's monotonic time, so a
//     stepped wall clock can neither fire nor suppress a stop;
//   - statistics for the SIGUSR1 report.
//
// The loop knows nothing about -a: in up state a sensor with AckOnly only
// reports TCP segments with ACK set (the kernel filters them), so to the
// loop every report is simply activity.
//
// # What a sensor may call
//
// A sensor (sensor.Sensor) gets a sensor.Sink in its Run and calls only
// Sink.Seen, from its capture goroutine. Seen never blocks and never
// waits for the loop: activity is an atomic maximum, the first packet of
// an armed period goes into a one-packet slot, and the loop is woken
// through a 1-slot channel. The loop in turn calls the sensor's SetMode
// (standby or up), Origin, Stats (SIGUSR1) and Close; none of these may
// wait on capture.
//
// # What a runner may call
//
// The loop hands each command to a Runner on a goroutine of its own, never
// on the loop goroutine, with at most one Run in progress. A Runner sees
// only its Command (the shell line, the Env, the timeout) and may log
// through its own Logger; it reports by returning. ShellRunner is the
// runner tuninetd uses: /bin/sh -c, a process group of its own, stdin on
// /dev/null, output logged line by line, the group killed on timeout. It
// holds no state between runs, so other daemons may call it directly.
//
// # The command's environment
//
// Trigger describes, in typed fields, what a command runs for (event,
// reason, sensor, interface, NFLOG group, addresses, protocol, ports, TTL,
// idle time); Trigger.Env turns it into variables under one prefix
// (TUNINETD_ here), and Env.Environ puts them on top of the daemon's
// environment without the variables it inherited under that prefix.
package core
