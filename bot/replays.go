package bot

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// MemoryReplays remembers the deliveries a chat adapter accepted — event,
// trigger, envelope or interaction ids, and signatures' decoded bytes —
// for as long as the process lasts, so that a platform's retries and a
// replayed request never run a command twice: bot.Guard's memory, and
// all of it when no store is given (tests, a quick try-out). Expired keys are dropped as new ones come, oldest
// first, a few at a time: never a scan of them all under the lock.
type MemoryReplays struct {
	mu   sync.Mutex
	keys map[string]time.Time // key → remembered until
	// order holds the keys in the order they were remembered, which is
	// about the order they expire in; head is its first live entry.
	order []remembered
	head  int
}

// remembered is a key as it was remembered until a time.
type remembered struct {
	key   string
	until time.Time
}

// sweepBatch bounds the expired keys one FirstSeen drops.
const sweepBatch = 64

// NewMemoryReplays returns an empty MemoryReplays.
func NewMemoryReplays() *MemoryReplays {
	return &MemoryReplays{keys: map[string]time.Time{}}
}

// FirstSeen reports whether none of keys was seen before (and is still
// remembered at now) and, when so, remembers them all until until. When
// it reports false it records nothing.
func (s *MemoryReplays) FirstSeen(ctx context.Context, keys []string, now, until time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked(now)
	for _, k := range keys {
		if u, dup := s.keys[k]; dup && now.Before(u) {
			return false, nil
		}
	}
	for _, k := range keys {
		s.keys[k] = until
		s.order = append(s.order, remembered{k, until})
	}
	return true, nil
}

// sweepLocked drops up to sweepBatch keys from the front of the order
// that have expired by now (a key remembered again since, until a later
// time, stays), and compacts the order once most of it is dropped.
func (s *MemoryReplays) sweepLocked(now time.Time) {
	for n := 0; n < sweepBatch && s.head < len(s.order); n++ {
		r := s.order[s.head]
		if now.Before(r.until) {
			break
		}
		if u, ok := s.keys[r.key]; ok && u.Equal(r.until) {
			delete(s.keys, r.key)
		}
		s.order[s.head] = remembered{}
		s.head++
	}
	if s.head > 1024 && s.head*2 > len(s.order) {
		s.order = append(s.order[:0:0], s.order[s.head:]...)
		s.head = 0
	}
}

// Len returns how many keys are remembered, expired ones not yet dropped
// included.
func (s *MemoryReplays) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.keys)
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

// Forget drops keys: the request was refused before it was queued, and
// the platform's retry of it must not be taken for a replay.
func (s *MemoryReplays) Forget(ctx context.Context, keys []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		delete(s.keys, k)
	}
	return nil
}

// Rememberer is the store the deliveries' keys are kept in across
// restarts; the storage package implements it on the bbolt file. It
// stores keys it is told are new without checking them and without making
// the caller wait for its disk: Remember returns at once, and wait
// returns when the keys are stored, or why they could not be. Remembered
// reads back every key still remembered at now. Discord prefixes its keys
// with "discord:"; Slack's, older, have no prefix: kinds ("trigger:",
// "sig:", …) keep them apart.
type Rememberer interface {
	Remember(keys []string, now, until time.Time) (wait func() error)
	Remembered(now time.Time, fn func(key string, until time.Time)) error
	// Unremember drops keys remembered until the times given.
	Unremember(ctx context.Context, keys map[string]time.Time) error
}

// Guard keeps a platform's deliveries from running twice, without making
// each one wait for the disk before it may run.
//
// When there is a store, the guard reads what earlier processes
// remembered when it is made (the store is this process's alone by then:
// the storage package locks its file), and from then on checks every
// delivery in memory. A new delivery's keys are queued to the store, and
// the caller waits for them to be on disk (durable) only before it
// acknowledges the delivery. A command's own writes, queued after the
// keys, commit with them or after them, so nothing a command records is
// on disk without what identifies its delivery.
type Guard struct {
	memory *MemoryReplays
	store  Rememberer // nil: memory alone
}

// NewGuard returns a guard over store (memory alone when nil) for the
// deliveries whose keys start with prefix; what the store remembers of
// other keys (another adapter's) is not read.
func NewGuard(store Rememberer, prefix string, now time.Time) (*Guard, error) {
	g := &Guard{memory: NewMemoryReplays(), store: store}
	if store == nil {
		return g, nil
	}
	err := store.Remembered(now, func(key string, until time.Time) {
		if strings.HasPrefix(key, prefix) {
			g.memory.FirstSeen(context.Background(), []string{key}, now, until)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("reading the deliveries already accepted: %w", err)
	}
	return g, nil
}

// Claim reports whether none of keys (empty ones ignored) was seen before and, when so,
// remembers them until until. durable, when first, waits until the keys
// are on disk (trying a failed write once more) and says why they are not;
// it is to be called before the delivery is acknowledged. An error from
// Claim means it is not known whether the delivery is new: it must be
// refused.
func (g *Guard) Claim(ctx context.Context, keys []string, now, until time.Time) (first bool, durable func() error, err error) {
	keys = slices.DeleteFunc(slices.Clone(keys), func(k string) bool { return k == "" })
	if first, _ := g.memory.FirstSeen(ctx, keys, now, until); !first || g.store == nil {
		return first, stored, nil
	}
	wait := g.store.Remember(keys, now, until)
	var once sync.Once
	return true, func() error {
		once.Do(func() {
			if err = wait(); err != nil {
				// Once more: the write may have failed with a
				// transaction that a later one, holding the command's own
				// records, did not.
				err = g.store.Remember(keys, now, until)()
			}
		})
		return err
	}, nil
}

func stored() error { return nil }

// Forget drops keys: the delivery was refused before it was queued, and
// the platform's retry of it must not be taken for a replay.
func (g *Guard) Forget(ctx context.Context, keys []string) error {
	if g.store == nil {
		return g.memory.Forget(ctx, keys)
	}
	return g.store.Unremember(ctx, g.memory.take(keys))
}
