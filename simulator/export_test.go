package simulator

import "time"

// SetClock replaces the simulator's clock so tests can move time instead
// of sleeping.
func SetClock(s *Simulator, now func() time.Time) {
	s.mu.Lock()
	s.now = now
	s.mu.Unlock()
}
