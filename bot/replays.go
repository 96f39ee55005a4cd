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

// Rememberer is a Replays that can also store keys it is told are new
// without checking them and without making the caller wait for its disk
// (the store): Remember returns at once, and wait returns when the keys
// are stored, or why they could not be.
type Rememberer interface {
	Remember(keys []string, now, until time.Time) (wait func() error)
}

// Guard keeps a platform's signed deliveries from running twice, without
// making each one wait for the disk before it may run.
//
// Every key is checked in memory. A delivery can have reached an earlier
// process only if it was signed before that process stopped, plus the
// signature window the earlier process allowed; so a delivery signed at
// least a window after this process started was never seen by another,
// and memory alone answers for it. Its keys are still stored, for the
// next process, but the caller waits for that (durable) only before it
// acknowledges the delivery, by which time a command's own writes, queued
// after the keys, have usually carried them to disk. Any other delivery,
// and every delivery when the store cannot Remember, is checked in the
// store itself, as before.
type Guard struct {
	store  Replays
	memory *MemoryReplays
	fast   Rememberer
	since  time.Time
}

// NewGuard returns a guard over store (memory alone when nil) for
// deliveries whose signatures are accepted within window of the
// receiver's clock. started is that clock's time once this process holds
// the store, which no other process can then write to (the storage
// package locks its file): every earlier process had stopped by then.
func NewGuard(store Replays, window time.Duration, started time.Time) *Guard {
	memory := NewMemoryReplays(window / 2)
	g := &Guard{store: store, memory: memory}
	if store == nil {
		g.store = memory
	}
	if r, ok := store.(Rememberer); ok {
		g.fast, g.since = r, started.Add(window)
	}
	return g
}

// Claim reports whether none of keys was seen before and, when so,
// remembers them until until. signed is when the delivery was signed
// (zero when it carries no signed time). durable, when first, waits until
// the keys are on disk; it is to be called before the delivery is
// acknowledged. An error means it is not known whether the delivery is
// new: it must be refused.
func (g *Guard) Claim(ctx context.Context, keys []string, signed, now, until time.Time) (first bool, durable func() error, err error) {
	if g.fast != nil && !signed.IsZero() && !signed.Before(g.since) {
		if first, _ := g.memory.FirstSeen(ctx, keys, now, until); !first {
			return false, nil, nil
		}
		return true, g.fast.Remember(keys, now, until), nil
	}
	first, err = g.store.FirstSeen(ctx, keys, now, until)
	if err != nil || !first {
		return false, nil, err
	}
	if g.store != Replays(g.memory) {
		g.memory.FirstSeen(ctx, keys, now, until)
	}
	return true, stored, nil
}

func stored() error { return nil }

// Forget drops keys: the delivery was refused before it was queued, and
// the platform's retry of it must not be taken for a replay.
func (g *Guard) Forget(ctx context.Context, keys []string) error {
	g.memory.Forget(ctx, keys)
	if g.store == Replays(g.memory) {
		return nil
	}
	return g.store.Forget(ctx, keys)
}
