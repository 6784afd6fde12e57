package dnsq

import (
	"strconv"
	"strings"
	"sync/atomic"
)

// Counters counts Inspect results for a sensor's SIGUSR1 report. The zero
// value is ready; it is safe for concurrent use.
type Counters struct {
	n [numResults]atomic.Uint64
}

// Add counts one result.
func (c *Counters) Add(r Result) {
	if r < numResults {
		c.n[r].Add(1)
	}
}

// Get returns how many times r was counted.
func (c *Counters) Get(r Result) uint64 {
	if r >= numResults {
		return 0
	}
	return c.n[r].Load()
}

// reportOrder lists what String shows: every result DNS packets can have.
var reportOrder = [...]Result{Matched, Excluded, Unlisted, BadName, NotQuery, Incomplete, Malformed}

// String returns the counts for the report, for instance "3 matching,
// 1 excluded by --dns-never, 40 unlisted, 0 unusable names, 52 not queries,
// 0 incomplete, 2 malformed". NotDNS packets are not DNS and not shown.
func (c *Counters) String() string {
	var b strings.Builder
	for i, r := range reportOrder {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.FormatUint(c.Get(r), 10))
		b.WriteByte(' ')
		b.WriteString(r.String())
	}
	return b.String()
}
