package bot

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Status is what a chat adapter last knew of its link with its platform:
// whether the platform can reach infrabot through it now, and in a few
// words why, for readiness. Its zero value is "not started", not ok.
type Status struct {
	p atomic.Pointer[status]
}

type status struct {
	ok    bool
	state string
}

// Set records the link's state.
func (s *Status) Set(ok bool, state string) {
	s.p.Store(&status{ok: ok, state: state})
}

// Get returns the link's state as last set.
func (s *Status) Get() (ok bool, state string) {
	v := s.p.Load()
	if v == nil {
		return false, "not started"
	}
	return v.ok, v.state
}

// Commands is a chat adapter's accepted commands: waiting in a fair
// per-person Inbox, then run by a fixed pool of workers. It counts what
// was accepted and not yet run to its end, for Drain.
type Commands[T any] struct {
	inbox   *Inbox[T]
	workers sync.WaitGroup
	pending atomic.Int64
}

// StartCommands starts workers goroutines running run on each command
// taken from an inbox of capacity (perPerson each); Close stops them.
func StartCommands[T any](capacity, perPerson, workers int, run func(T)) *Commands[T] {
	c := &Commands[T]{inbox: NewInbox[T](capacity, perPerson)}
	for range workers {
		c.workers.Add(1)
		go func() {
			defer c.workers.Done()
			for {
				item, ok := c.inbox.Take()
				if !ok {
					return
				}
				run(item)
				c.pending.Add(-1)
			}
		}()
	}
	return c
}

// Submit queues item, person's, and reports whether it did. It does not
// once Close was called. When there is no room (for anyone, or for this
// person) it returns false at once, or, when wait is set, waits for room
// until ctx ends.
func (c *Commands[T]) Submit(ctx context.Context, person string, item T, wait bool) bool {
	c.pending.Add(1)
	if c.inbox.Put(ctx, person, item, wait) {
		return true
	}
	c.pending.Add(-1)
	return false
}

// Close takes no more commands, and returns once those accepted before it
// have run: each was acknowledged to the platform.
func (c *Commands[T]) Close() {
	c.inbox.Close()
	c.workers.Wait()
}

// Closed reports whether Close was called: a Submit refused after it was
// refused for shutting down, not for want of room.
func (c *Commands[T]) Closed() bool { return c.inbox.Closed() }

// Pending returns how many commands were accepted and have not yet run to
// their end.
func (c *Commands[T]) Pending() int64 { return c.pending.Load() }

// Drain waits until every command accepted so far has run, or until ctx
// ends (tests and benchmarks settle with it).
func (c *Commands[T]) Drain(ctx context.Context) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for c.pending.Load() > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// ReadBody reads a platform's request body, at most max bytes, answering
// the request itself (413, or 400) when it cannot.
func ReadBody(w http.ResponseWriter, r *http.Request, max int64) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, "request too large", http.StatusRequestEntityTooLarge)
		} else {
			http.Error(w, "could not read the request", http.StatusBadRequest)
		}
		return nil, false
	}
	return body, true
}
