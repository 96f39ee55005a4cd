package bot

import (
	"context"
	"sync"
	"time"
)

// Replays remembers the deliveries a chat adapter accepted — event,
// trigger, envelope or interaction ids, and signatures' decoded bytes — so
// that a platform's retries and a replayed request never run a command
// twice, across restarts too. The storage package implements it on the
// bbolt file; each adapter prefixes its keys with its platform, so that
// they share one store.
type Replays interface {
	// FirstSeen reports whether none of keys was seen before (and is
	// still remembered at now) and, when so, remembers them all until
	// until, atomically. When it reports false it records nothing.
	FirstSeen(ctx context.Context, keys []string, now, until time.Time) (bool, error)
	// Forget drops keys: the request was refused before it was queued,
	// and the platform's retry of it must not be taken for a replay.
	Forget(ctx context.Context, keys []string) error
}

// MemoryReplays is a Replays that lasts as long as the process: the
// adapters' default when no store is given (tests, a quick try-out).
type MemoryReplays struct {
	mu      sync.Mutex
	keys    map[string]time.Time // key → remembered until
	sweep   time.Duration        // how often expired keys are dropped
	sweepAt time.Time            // when expired keys are next dropped
}

// NewMemoryReplays returns an empty MemoryReplays that drops expired keys
// every sweep.
func NewMemoryReplays(sweep time.Duration) *MemoryReplays {
	return &MemoryReplays{keys: map[string]time.Time{}, sweep: sweep}
}

// FirstSeen implements Replays.
func (s *MemoryReplays) FirstSeen(ctx context.Context, keys []string, now, until time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.After(s.sweepAt) {
		for k, u := range s.keys {
			if !now.Before(u) {
				delete(s.keys, k)
			}
		}
		s.sweepAt = now.Add(s.sweep)
	}
	for _, k := range keys {
		if u, dup := s.keys[k]; dup && now.Before(u) {
			return false, nil
		}
	}
	for _, k := range keys {
		s.keys[k] = until
	}
	return true, nil
}

// Forget implements Replays.
func (s *MemoryReplays) Forget(ctx context.Context, keys []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		delete(s.keys, k)
	}
	return nil
}
