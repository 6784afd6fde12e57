package examples

const standinEnv = "TUNINETD_RECIPES_TPROXY_STANDIN"

func tproxyStandin() int { return 1 }
