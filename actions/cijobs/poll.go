package cijobs

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/infrabot/infrabot/actions"
)

const (
	bucketJobs    = "jobs"    // squad \0 source \0 job key → jobState
	bucketSources = "sources" // source name → sourceState
	bucketOutbox  = "outbox"  // sequence → notice, until it is sent
)

// sourceState is what the module knows of a source itself.
type sourceState struct {
	// Newest is the end of the newest build seen, the next poll's since.
	Newest time.Time
	// Down is true once the squads were told the source cannot be read,
	// until it can again.
	Down      bool
	DownSince time.Time
	Error     string
}

// notice is a message waiting in the outbox. Notices are written in the
// same transaction as the state that caused them and sent after it
// commits, so a crash in between sends them at the next poll instead of
// losing them.
type notice struct {
	To      []actions.Target
	Message actions.Message
}

// Poll reads the source called name once and tells squads what changed.
// It is what the source's schedule runs.
func (m *Module) Poll(ctx context.Context, name string) error {
	cfg := m.inForce()
	var w *Watch
	for i := range cfg.sources {
		if cfg.sources[i].Name == name {
			w = &cfg.sources[i]
		}
	}
	if w == nil {
		return fmt.Errorf("no CI source %q", name)
	}
	m.flush(ctx)
	defer m.flush(ctx)

	var src sourceState
	if err := m.h.Store().View(ctx, func(tx actions.Tx) error {
		return get(tx.Bucket(bucketSources), []byte(name), &src)
	}); err != nil {
		return err
	}
	since := src.Newest
	report, err := w.Source.Poll(ctx, since)
	now := m.h.Now()
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		m.h.Log().Warn("CI source cannot be read", "source", name, "err", err)
		return m.h.Store().Update(ctx, func(tx actions.Tx) error {
			var src sourceState
			b := tx.Bucket(bucketSources)
			if err := get(b, []byte(name), &src); err != nil {
				return err
			}
			if src.Down {
				return nil
			}
			src.Down, src.DownSince, src.Error = true, now, actions.ErrorMessage(err)
			msg := actions.Message{
				Title:   "CI source " + name + " cannot be read",
				Summary: fmt.Sprintf("CI source %s cannot be read: %s", name, src.Error),
				Text:    fmt.Sprintf("%s. Its jobs are not watched until it answers again; infrabot says so when it does.", src.Error),
				Tone:    actions.ToneWarning,
			}
			if err := enqueue(tx, cfg.channels(), msg); err != nil {
				return err
			}
			return put(b, []byte(name), src)
		})
	}
	return m.h.Store().Update(ctx, func(tx actions.Tx) error {
		var src sourceState
		sb := tx.Bucket(bucketSources)
		if err := get(sb, []byte(name), &src); err != nil {
			return err
		}
		if src.Down {
			msg := actions.Message{
				Summary: fmt.Sprintf("CI source %s answers again, after %s", name, actions.Span(now.Sub(src.DownSince))),
				Tone:    actions.ToneSuccess,
			}
			if err := enqueue(tx, cfg.channels(), msg); err != nil {
				return err
			}
			src.Down, src.Error = false, ""
		}
		for _, b := range report.Builds {
			if b.at().After(src.Newest) {
				src.Newest = b.at()
			}
		}
		if err := put(sb, []byte(name), src); err != nil {
			return err
		}
		for _, sq := range cfg.squads {
			if err := m.pollSquad(tx, sq, name, report, now); err != nil {
				return err
			}
		}
		return nil
	})
}

// pollSquad takes a report in for one squad: the new builds of the jobs
// it owns, oldest first, then reminders and silences.
func (m *Module) pollSquad(tx actions.Tx, sq *Squad, source string, r Report, now time.Time) error {
	jb := tx.Bucket(bucketJobs)
	states := map[string]*jobState{}
	load := func(job JobID) (*jobState, error) {
		k := stateKey(sq.Name, source, job)
		if s, ok := states[k]; ok {
			return s, nil
		}
		s := &jobState{Squad: sq.Name, Source: source, Job: job, FirstSeen: now}
		if err := get(jb, []byte(k), s); err != nil {
			return nil, err
		}
		states[k] = s
		return s, nil
	}
	for _, job := range r.Jobs {
		if sq.Owns(job.Name) {
			s, err := load(job)
			if err != nil {
				return err
			}
			s.Missing = false
		}
	}
	// Stored states of this squad and source that this report does not
	// mention still get their reminders and silence checks.
	prefix := sq.Name + "\x00" + source + "\x00"
	if err := jb.ForEach(func(k, v []byte) error {
		if !strings.HasPrefix(string(k), prefix) {
			return nil
		}
		s := &jobState{}
		if err := json.Unmarshal(v, s); err != nil {
			return fmt.Errorf("job state %q: %w", k, err)
		}
		if _, ok := states[string(k)]; !ok {
			states[string(k)] = s
		}
		return nil
	}); err != nil {
		return err
	}
	var events []struct {
		s  *jobState
		ev event
	}
	for i := len(r.Builds) - 1; i >= 0; i-- { // oldest first
		b := r.Builds[i]
		if !sq.Owns(b.Job.Name) {
			continue
		}
		s, err := load(b.Job)
		if err != nil {
			return err
		}
		if !s.isNew(b) {
			continue
		}
		for _, ev := range s.take(sq, b, now) {
			events = append(events, struct {
				s  *jobState
				ev event
			}{s, ev})
		}
	}
	for _, job := range r.Missing {
		if !sq.Owns(job.Name) {
			continue
		}
		s, err := load(job)
		if err != nil {
			return err
		}
		if !s.Missing {
			s.Missing, s.MissingSince = true, now
			events = append(events, struct {
				s  *jobState
				ev event
			}{s, event{Kind: evMissing, Since: now}})
		}
	}
	keys := make([]string, 0, len(states))
	for k := range states {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		s := states[k]
		if !sq.Owns(s.Job.Name) {
			continue // the squad no longer owns it (the config changed)
		}
		for _, ev := range s.tick(sq, now) {
			events = append(events, struct {
				s  *jobState
				ev event
			}{s, ev})
		}
		if err := put(jb, []byte(k), s); err != nil {
			return err
		}
	}
	to := []actions.Target{{Kind: actions.ToChannel, Name: sq.Channel}}
	for _, e := range events {
		if err := enqueue(tx, to, noticeMessage(sq, e.s, e.ev, now)); err != nil {
			return err
		}
	}
	return nil
}

func stateKey(squad, source string, job JobID) string {
	return squad + "\x00" + source + "\x00" + job.key()
}

// flush sends the notices waiting in the outbox, oldest first, and
// removes each once Notify has returned: delivery that fails after the
// adapters' retries is logged and counted by the kernel, not retried
// here, so that a notice that reached one platform is not sent there
// twice.
func (m *Module) flush(ctx context.Context) {
	type pending struct {
		key []byte
		n   notice
	}
	m.flushMu.Lock()
	defer m.flushMu.Unlock()
	var queue []pending
	err := m.h.Store().View(ctx, func(tx actions.Tx) error {
		return tx.Bucket(bucketOutbox).ForEach(func(k, v []byte) error {
			var n notice
			if err := json.Unmarshal(v, &n); err != nil {
				m.h.Log().Error("dropping an unreadable notice", "err", err)
			}
			queue = append(queue, pending{append([]byte(nil), k...), n})
			return nil
		})
	})
	if err != nil {
		m.h.Log().Error("cannot read the outbox", "err", err)
		return
	}
	for _, p := range queue {
		if ctx.Err() != nil {
			return
		}
		if len(p.n.To) > 0 {
			_, _ = m.h.Notify(ctx, p.n.To, p.n.Message)
			m.h.Audit(ctx, actions.AuditEntry{Person: "infrabot", Event: "notice", Action: "jobs", Detail: p.n.Message.Summary})
		}
		if err := m.h.Store().Update(ctx, func(tx actions.Tx) error {
			return tx.Bucket(bucketOutbox).Delete(p.key)
		}); err != nil {
			m.h.Log().Error("cannot remove a sent notice from the outbox", "err", err)
			return
		}
	}
}

func enqueue(tx actions.Tx, to []actions.Target, msg actions.Message) error {
	b := tx.Bucket(bucketOutbox)
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, seq)
	return put(b, k, notice{To: to, Message: msg})
}

func get(b actions.Bucket, k []byte, v any) error {
	data := b.Get(k)
	if data == nil {
		return nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("reading %q: %w", k, err)
	}
	return nil
}

func put(b actions.Bucket, k []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(k, data)
}
