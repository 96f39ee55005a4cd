package bot

import (
	"context"
	"errors"
	"io"
	"net/http"
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

// Pending counts the commands a chat adapter accepted and has not yet
// handled.
type Pending struct {
	n atomic.Int64
}

// Add adds delta: 1 when a command is accepted, -1 when it is handled.
func (p *Pending) Add(delta int64) { p.n.Add(delta) }

// Len returns how many commands are pending.
func (p *Pending) Len() int64 { return p.n.Load() }

// Drain waits until no command is pending, or until ctx ends.
func (p *Pending) Drain(ctx context.Context) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for p.n.Load() > 0 {
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
