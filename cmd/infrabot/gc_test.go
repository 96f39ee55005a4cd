package main

import (
	"runtime/debug"
	"testing"
)

// tuneGC sets the collector's defaults only where the operator set
// nothing, and says what it left.
func TestTuneGCKeepsWhatTheOperatorSet(t *testing.T) {
	percent, limit := debug.SetGCPercent(100), debug.SetMemoryLimit(-1)
	t.Cleanup(func() {
		debug.SetGCPercent(percent)
		debug.SetMemoryLimit(limit)
	})
	env := func(vars map[string]string) func(string) string {
		return func(k string) string { return vars[k] }
	}

	s := tuneGC(env(nil))
	if got := debug.SetGCPercent(-1); got != defaultGOGC {
		t.Errorf("with GOGC unset the collector runs at %d, want %d", got, defaultGOGC)
	}
	if got := debug.SetMemoryLimit(-1); got != defaultMemoryLimit {
		t.Errorf("with GOMEMLIMIT unset the memory limit is %d, want %d", got, defaultMemoryLimit)
	}
	if s != (gcSettings{GOGC: "400", MemoryLimit: "1GiB"}) {
		t.Errorf("tuneGC said %+v", s)
	}

	debug.SetGCPercent(150)
	debug.SetMemoryLimit(300 << 20)
	s = tuneGC(env(map[string]string{"GOGC": "150", "GOMEMLIMIT": "300MiB"}))
	if got := debug.SetGCPercent(-1); got != 150 {
		t.Errorf("GOGC=150 was changed to %d", got)
	}
	if got := debug.SetMemoryLimit(-1); got != 300<<20 {
		t.Errorf("GOMEMLIMIT=300MiB was changed to %d", got)
	}
	if s != (gcSettings{GOGC: "150", MemoryLimit: "300MiB"}) {
		t.Errorf("tuneGC said %+v", s)
	}
}
