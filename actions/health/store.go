package health

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/infrabot/infrabot/actions"
)

const (
	bucketChecks    = "checks"    // check name → record
	bucketIncidents = "incidents" // id (big-endian) → Incident
)

// record is what is stored of a check.
type record struct {
	Failures     int       `json:"failures,omitempty"`  // consecutive
	Successes    int       `json:"successes,omitempty"` // consecutive
	FailingSince time.Time `json:"failing_since,omitzero"`
	Last         *Result   `json:"last,omitempty"`
	History      []Result  `json:"history,omitempty"` // oldest first, at most HistoryLength
	Hours        []hour    `json:"hours,omitempty"`   // uptime per hour, the last 25
	Incident     int64     `json:"incident,omitempty"`
	Snooze       *Snooze   `json:"snooze,omitempty"`

	// Heartbeats.
	FirstSeen time.Time `json:"first_seen,omitzero"`
	LastPing  time.Time `json:"last_ping,omitzero"` // the last success
	Started   time.Time `json:"started,omitzero"`   // the last start not yet followed by a success
}

// hour counts results in one hour, for uptime.
type hour struct {
	Hour  int64 `json:"h"` // Unix time / 3600
	Up    int   `json:"u"`
	Total int   `json:"n"`
}

// add counts r in its hour, keeping the last 25 hours.
func (rec *record) add(r Result) {
	rec.Last = &r
	rec.History = append(rec.History, r)
	if len(rec.History) > HistoryLength {
		rec.History = append(rec.History[:0], rec.History[len(rec.History)-HistoryLength:]...)
	}
	h := r.Time.Unix() / 3600
	if n := len(rec.Hours); n == 0 || rec.Hours[n-1].Hour != h {
		rec.Hours = append(rec.Hours, hour{Hour: h})
		if len(rec.Hours) > 25 {
			rec.Hours = append(rec.Hours[:0], rec.Hours[len(rec.Hours)-25:]...)
		}
	}
	last := &rec.Hours[len(rec.Hours)-1]
	last.Total++
	if r.OK {
		last.Up++
	}
}

// uptime is the share of passing results in the 24 hours before now; ok
// is false when there are none.
func (rec *record) uptime(now time.Time) (float64, bool) {
	from := now.Add(-24*time.Hour).Unix() / 3600
	up, total := 0, 0
	for _, h := range rec.Hours {
		if h.Hour >= from {
			up += h.Up
			total += h.Total
		}
	}
	if total == 0 {
		return 0, false
	}
	return float64(up) / float64(total), true
}

func idKey(id int64) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, uint64(id))
	return k
}

// load reads the open incidents and the checks' records, and decides
// when each check runs first: at its next slot after its last result, or
// at once (plus its jitter) when that slot has passed or it never ran.
// The incidents come first: a check's record is checked against them.
// A read that failed is read again whole: nothing it read is kept.
func (x *Module) load(ctx context.Context) error {
	x.mu.Lock()
	x.open, x.closing, x.untold, x.nextID = map[int64]*Incident{}, map[int64]*Incident{}, nil, 0
	x.mu.Unlock()
	err := x.h.Store().View(ctx, func(tx actions.Tx) error {
		ib := tx.Bucket(bucketIncidents)
		return ib.ForEach(func(k, v []byte) error {
			id := int64(binary.BigEndian.Uint64(k))
			x.nextID = max(x.nextID, id)
			var inc Incident
			if err := json.Unmarshal(v, &inc); err != nil {
				return fmt.Errorf("reading incident %d: %w", id, err)
			}
			switch {
			case inc.State == Open:
				x.open[id] = &inc
			case inc.Untold != "":
				// Its resolution is told at the start: until then a
				// note goes into it, as into one being resolved.
				x.closing[id] = &inc
				x.untold = append(x.untold, &inc)
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	var checks []*checkState
	for _, cs := range x.r().checks {
		checks = append(checks, cs)
	}
	return x.loadChecks(ctx, checks, x.born) // as if read when the module was made
}

// loadChecks reads the records of checks and decides when each runs
// first, as of now. The open incidents are read already.
func (x *Module) loadChecks(ctx context.Context, checks []*checkState, now time.Time) error {
	return x.h.Store().View(ctx, func(tx actions.Tx) error {
		cb := tx.Bucket(bucketChecks)
		x.mu.Lock()
		defer x.mu.Unlock()
		for _, cs := range checks {
			if err := cs.load(cb, now, x.open); err != nil {
				return err
			}
		}
		return nil
	})
}

// load reads cs's record from cb and decides when it runs first, as of
// now. A record naming an incident no longer open (resolved by hand
// while the check was out of the config, so that nothing cleared it)
// forgets it, and its failure count starts again, as at any resolve by
// hand. The caller holds x.mu, which guards open.
func (cs *checkState) load(cb actions.Bucket, now time.Time, open map[int64]*Incident) error {
	d := cs.d()
	cs.mu.Lock()
	defer cs.mu.Unlock()
	var rec record
	if v := cb.Get([]byte(d.check.Name)); v != nil {
		if err := json.Unmarshal(v, &rec); err != nil {
			return fmt.Errorf("reading the state of check %s: %w", d.check.Name, err)
		}
	}
	cs.rec = rec
	if id := cs.rec.Incident; id != 0 && open[id] == nil {
		cs.rec.Incident, cs.rec.Failures, cs.rec.FailingSince = 0, 0, time.Time{}
	}
	if cs.rec.FirstSeen.IsZero() {
		cs.rec.FirstSeen = now
	}
	cs.next = now.Add(d.jitter)
	if cs.rec.Last != nil {
		if next := d.sched.Next(cs.rec.Last.Time.Add(-d.jitter)).Add(d.jitter); next.After(now) {
			cs.next = next
		}
	}
	return nil
}

// committer stores records and incidents in shared transactions: a
// caller waits until what it asked for is on disk, and every caller that
// arrives while a transaction commits joins the next one. What is written
// is the state at commit time, so a later write never carries an older
// state.
type committer struct {
	x *Module

	mu        sync.Mutex
	checks    map[*checkState]bool
	incidents map[*Incident]bool
	waiters   []chan error
	pending   int // saves queued since the last commit
	running   bool
	idle      sync.Cond
	last      time.Time // when the last commit started, on the real clock; only loop uses it
}

// save stores the current state of the checks and incidents given, and
// returns once it is durable.
func (c *committer) save(ctx context.Context, checks []*checkState, incidents []*Incident) error {
	done := make(chan error, 1)
	c.queue(checks, incidents, done)
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// later stores the current state of a check with the next commit,
// without waiting for it: an ordinary result, whose loss in a crash
// costs one result. Wait (and Close) wait for it.
func (c *committer) later(cs *checkState) {
	c.queue([]*checkState{cs}, nil, nil)
}

func (c *committer) queue(checks []*checkState, incidents []*Incident, done chan error) {
	c.mu.Lock()
	if c.checks == nil {
		c.checks, c.incidents = map[*checkState]bool{}, map[*Incident]bool{}
		c.idle.L = &c.mu
	}
	for _, cs := range checks {
		c.checks[cs] = true
	}
	for _, inc := range incidents {
		c.incidents[inc] = true
	}
	c.pending++
	if done != nil {
		c.waiters = append(c.waiters, done)
	}
	if !c.running {
		c.running = true
		go c.loop()
	}
	c.mu.Unlock()
}

// commitSpacing is the least time between the starts of two commits:
// under load, what arrives meanwhile joins the next one, so that 500
// results a second cost about 10 fsyncs, not 500. It paces the disk, so
// loop measures it on the real clock, not on the module's (h.Now): on a
// test clock that stands still every commit would wait the full spacing
// (or for ever, slept on that clock), and on one that jumps ahead the
// batching would stop.
const commitSpacing = 100 * time.Millisecond

// loop commits batches until none is waiting, then ends.
func (c *committer) loop() {
	for {
		if wait := commitSpacing - time.Since(c.last); wait > 0 {
			time.Sleep(wait)
		}
		c.mu.Lock()
		if c.pending == 0 {
			c.running = false
			c.idle.Broadcast()
			c.mu.Unlock()
			return
		}
		checks, incidents, waiters := c.checks, c.incidents, c.waiters
		c.checks, c.incidents, c.waiters, c.pending = map[*checkState]bool{}, map[*Incident]bool{}, nil, 0
		c.last = time.Now()
		c.mu.Unlock()
		err := c.x.write(checks, incidents)
		if err != nil && len(waiters) == 0 {
			c.x.h.Log().Error("storing checks' results failed", "err", err)
		}
		for _, w := range waiters {
			w <- err
		}
	}
}

// wait blocks until nothing is being committed.
func (c *committer) wait() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.running {
		c.idle.Wait()
	}
}

// write stores the current state of checks and incidents in one
// transaction.
func (x *Module) write(checks map[*checkState]bool, incidents map[*Incident]bool) error {
	type kv struct{ k, v []byte }
	var cw, iw []kv
	for cs := range checks {
		cs.mu.Lock()
		v, err := cs.rec.appendJSON(make([]byte, 0, cs.rec.sizeHint()))
		cs.mu.Unlock()
		if err != nil {
			return err
		}
		cw = append(cw, kv{[]byte(cs.d().check.Name), v})
	}
	x.mu.Lock()
	for inc := range incidents {
		v, err := json.Marshal(inc)
		if err != nil {
			x.mu.Unlock()
			return err
		}
		iw = append(iw, kv{idKey(inc.ID), v})
	}
	x.mu.Unlock()
	return x.h.Store().Update(context.Background(), func(tx actions.Tx) error {
		cb, ib := tx.Bucket(bucketChecks), tx.Bucket(bucketIncidents)
		for _, w := range cw {
			if err := cb.Put(w.k, w.v); err != nil {
				return err
			}
		}
		for _, w := range iw {
			if err := ib.Put(w.k, w.v); err != nil {
				return err
			}
		}
		return nil
	})
}

// incident reads incident id from the store (resolved ones too).
func (x *Module) incident(ctx context.Context, id int64) (*Incident, error) {
	x.mu.Lock()
	live, ok := x.open[id]
	if !ok {
		live, ok = x.closing[id]
	}
	if ok {
		cp := live.clone()
		x.mu.Unlock()
		return cp, nil
	}
	x.mu.Unlock()
	var inc *Incident
	err := x.h.Store().View(ctx, func(tx actions.Tx) error {
		v := tx.Bucket(bucketIncidents).Get(idKey(id))
		if v == nil {
			return nil
		}
		inc = &Incident{}
		return json.Unmarshal(v, inc)
	})
	if err != nil {
		return nil, err
	}
	if inc == nil {
		return nil, actions.Errorf(actions.NotFound, "there is no incident %d; `incidents` lists the open ones", id)
	}
	return inc, nil
}
