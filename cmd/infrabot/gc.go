package main

import (
	"runtime/debug"
	"strconv"
)

// The garbage collector's defaults for `infrabot run`.
//
// A command allocates some 20 KB (a request parsed, a record sealed, a
// reply rendered) and keeps little of it, so at Go's default, GOGC=100,
// a busy infrabot collects several times a second: against the built
// binary, collecting was a tenth of infrabot's CPU and its stacks' copies
// a twentieth more. At 400 it collects a quarter as often; in the
// benchmark (docs/performance.md) infrabot then executed 17–37 % more
// commands a second for about a fifth less CPU each. The heap may grow to
// five times what is live instead of twice; the soft memory limit makes
// the collector work harder as the heap nears it instead of letting it
// grow on. GOGC and GOMEMLIMIT, when set, are left as they are.
const (
	defaultGOGC            = 400
	defaultMemoryLimit     = 1 << 30
	defaultMemoryLimitText = "1GiB" // as GOMEMLIMIT would say it
)

// gcSettings is what tuneGC left the collector with, to be logged.
type gcSettings struct {
	GOGC, MemoryLimit string
}

// tuneGC applies the defaults above where getenv says the operator set
// nothing.
func tuneGC(getenv func(string) string) gcSettings {
	s := gcSettings{GOGC: getenv("GOGC"), MemoryLimit: getenv("GOMEMLIMIT")}
	if s.GOGC == "" {
		debug.SetGCPercent(defaultGOGC)
		s.GOGC = strconv.Itoa(defaultGOGC)
	}
	if s.MemoryLimit == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
		s.MemoryLimit = defaultMemoryLimitText
	}
	return s
}
