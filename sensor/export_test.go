package sensor

// PacketEnv returns the TUNINETD_* variables a command gets for a decoded
// packet. core builds them, and core imports sensor, so only the external
// test package can reach it: env_test.go sets PacketEnv.
var PacketEnv func(Summary) []string
