package bot

import (
	"context"
	"fmt"
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

// take forgets keys and returns until when each was remembered.
func (s *MemoryReplays) take(keys []string) map[string]time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]time.Time, len(keys))
	for _, k := range keys {
		if u, ok := s.keys[k]; ok {
			out[k] = u
			delete(s.keys, k)
		}
	}
	return out
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
// are stored, or why they could not be. Remembered reads back every key
// still remembered at now, by Remember or FirstSeen.
type Rememberer interface {
	Replays
	Remember(keys []string, now, until time.Time) (wait func() error)
	Remembered(now time.Time, fn func(key string, until time.Time)) error
	// Unremember drops keys remembered until the times given.
	Unremember(ctx context.Context, keys map[string]time.Time) error
}

// Guard keeps a platform's deliveries from running twice, without making
// each one wait for the disk before it may run.
//
// When the store is a Rememberer, the guard reads what earlier processes
// remembered when it is made (the store is this process's alone by then:
// the storage package locks its file), and from then on checks every
// delivery in memory. A new delivery's keys are queued to the store, and
// the caller waits for them to be on disk (durable) only before it
// acknowledges the delivery. A command's own writes, queued after the
// keys, commit with them or after them, so nothing a command records is
// on disk without what identifies its delivery. With any other store,
// each delivery is checked in the store itself.
type Guard struct {
	store  Replays
	memory *MemoryReplays
	fast   Rememberer
}

// NewGuard returns a guard over store (memory alone when nil), whose
// memory drops expired keys every sweep.
func NewGuard(store Replays, sweep time.Duration, now time.Time) (*Guard, error) {
	memory := NewMemoryReplays(sweep)
	g := &Guard{store: store, memory: memory}
	if store == nil {
		g.store = memory
	}
	if r, ok := store.(Rememberer); ok {
		err := r.Remembered(now, func(key string, until time.Time) {
			memory.FirstSeen(context.Background(), []string{key}, now, until)
		})
		if err != nil {
			return nil, fmt.Errorf("reading the deliveries already accepted: %w", err)
		}
		g.fast = r
	}
	return g, nil
}

// Claim reports whether none of keys was seen before and, when so,
// remembers them until until. durable, when first, waits until the keys
// are on disk; it is to be called before the delivery is acknowledged. An
// error means it is not known whether the delivery is new: it must be
// refused.
func (g *Guard) Claim(ctx context.Context, keys []string, now, until time.Time) (first bool, durable func() error, err error) {
	if g.fast == nil {
		first, err = g.store.FirstSeen(ctx, keys, now, until)
		return first && err == nil, stored, err
	}
	if first, _ := g.memory.FirstSeen(ctx, keys, now, until); !first {
		return false, nil, nil
	}
	return true, g.fast.Remember(keys, now, until), nil
}

func stored() error { return nil }

// Forget drops keys: the delivery was refused before it was queued, and
// the platform's retry of it must not be taken for a replay.
func (g *Guard) Forget(ctx context.Context, keys []string) error {
	if g.fast != nil {
		return g.fast.Unremember(ctx, g.memory.take(keys))
	}
	g.memory.Forget(ctx, keys)
	if g.store == Replays(g.memory) {
		return nil
	}
	return g.store.Forget(ctx, keys)
}
