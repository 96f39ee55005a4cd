package health

import (
	"sort"
	"sync/atomic"
	"time"
)

// DurationBounds are the upper bounds, in seconds, of the buckets a
// check's duration is counted in: from a loopback answer to a timeout.
var DurationBounds = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// Kinds are every kind of check, in the order Stats reports them.
var Kinds = []Kind{HTTP, TCP, SSH, OpenStack, Heartbeat}

// Ping kinds, as Stats counts them.
const (
	PingSuccess = "success" // /ping/<token> or /ping/<token>/0
	PingStart   = "start"
	PingFail    = "fail" // /fail, or a non-zero exit code
)

// Stats are what the module counted since it was made, for metrics: read
// at scrape time, from counters kept without locks, so that reading them
// costs the same with 5 checks as with 5,000. They are by kind of check,
// never by check.
type Stats struct {
	Kinds []KindStats
	// OpenIncidents is how many incidents are open now (0 until the
	// store is first read, a second after the start).
	OpenIncidents int
	// Pings counts the pings heartbeats received, by PingSuccess,
	// PingStart and PingFail; pings with an unknown token are not
	// counted.
	Pings map[string]uint64
}

// KindStats are the counts for one kind of check.
type KindStats struct {
	Kind   Kind
	Checks int // declared
	// Passed and Failed count results: every run of a check, scheduled
	// or asked for in chat, a heartbeat's missed deadline and each ping
	// that is a result (a success, a fail, an exit code).
	Passed, Failed uint64
	// Durations of the runs that probed something (heartbeats' results
	// have none): Counts[i] is how many took at most DurationBounds[i]
	// seconds (cumulative, as Prometheus' buckets are).
	Count  uint64
	Sum    float64 // seconds
	Counts []uint64
}

// counts is what the module counts of one kind.
type counts struct {
	checks         atomic.Int64
	passed, failed atomic.Uint64
	count, sumNs   atomic.Uint64
	buckets        []atomic.Uint64 // not cumulative; one more for +Inf
}

// meter holds the module's counts.
type meter struct {
	kinds map[Kind]*counts
	pings map[string]*atomic.Uint64
}

func newMeter() *meter {
	m := &meter{kinds: map[Kind]*counts{}, pings: map[string]*atomic.Uint64{}}
	for _, k := range Kinds {
		m.kinds[k] = &counts{buckets: make([]atomic.Uint64, len(DurationBounds)+1)}
	}
	for _, p := range []string{PingSuccess, PingStart, PingFail} {
		m.pings[p] = &atomic.Uint64{}
	}
	return m
}

// declare counts the checks declared, by kind.
func (m *meter) declare(checks map[string]*checkState) {
	n := map[Kind]int64{}
	for _, cs := range checks {
		n[cs.d().check.Kind]++
	}
	for k, c := range m.kinds {
		c.checks.Store(n[k])
	}
}

// result counts one result of a check of kind k; probed is true when it
// probed something, so that its latency is a duration worth counting.
func (m *meter) result(k Kind, r Result, probed bool) {
	c := m.kinds[k]
	if c == nil {
		return
	}
	if r.OK {
		c.passed.Add(1)
	} else {
		c.failed.Add(1)
	}
	if !probed {
		return
	}
	c.count.Add(1)
	c.sumNs.Add(uint64(max(r.Latency, 0)))
	s := r.Latency.Seconds()
	i := sort.SearchFloat64s(DurationBounds, s) // the first bound >= s
	c.buckets[i].Add(1)
}

func (m *meter) ping(kind string) {
	if p := m.pings[kind]; p != nil {
		p.Add(1)
	}
}

// Stats returns what the module counted since it was made.
func (x *Module) Stats() Stats {
	m := x.stats
	st := Stats{Pings: map[string]uint64{}}
	for _, k := range Kinds {
		c := m.kinds[k]
		ks := KindStats{Kind: k, Checks: int(c.checks.Load()), Passed: c.passed.Load(), Failed: c.failed.Load(),
			Count: c.count.Load(), Sum: time.Duration(c.sumNs.Load()).Seconds(), Counts: make([]uint64, len(DurationBounds))}
		var cum uint64
		for i := range DurationBounds {
			cum += c.buckets[i].Load()
			ks.Counts[i] = cum
		}
		// A run counted between the loads above must not make a bucket
		// exceed the count.
		ks.Count = max(ks.Count, cum+c.buckets[len(DurationBounds)].Load())
		st.Kinds = append(st.Kinds, ks)
	}
	for p, n := range m.pings {
		st.Pings[p] = n.Load()
	}
	x.mu.Lock()
	st.OpenIncidents = len(x.open)
	x.mu.Unlock()
	return st
}
