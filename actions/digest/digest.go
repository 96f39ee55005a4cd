// Package digest is the digests module: a status summary posted to a
// channel on a schedule — environments and what is going on in them,
// health checks, open incidents, who is on call, broken CI jobs, runs since the last
// digest — and on demand with `digest`.
//
// The module writes the environments and runs sections itself, through
// its handle. Other modules' sections (checks, incidents, jobs) are
// Sections the wiring hands over: the digest never imports another
// module, and a section whose module is absent is simply not there.
package digest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/infrabot/infrabot/actions"
)

// Name is the module's name, for Engine.Module.
const Name = "digest"

// Buckets are the storage buckets the module declares.
var Buckets = []string{bucketLast}

const bucketLast = "last" // digest name → when it was last posted (RFC 3339)

// Section names, in the order a digest shows them by default.
const (
	Environments = "environments"
	Checks       = "checks"
	Incidents    = "incidents"
	OnCall       = "oncall"
	Jobs         = "jobs"
	Runs         = "runs"
)

// SectionNames are every section a digest may include.
var SectionNames = []string{Environments, Checks, Incidents, OnCall, Jobs, Runs}

// Section is a part of a digest another module writes. Part returns the
// section as a message: Title names it, Summary says it in a few words,
// Lines hold the details, Links and Tone are kept. since is when the
// previous digest was posted. A zero message means nothing to say, and the
// section is left out.
type Section struct {
	Name string
	Part func(ctx context.Context, since time.Time) (actions.Message, error)
}

// Servers counts an environment's servers for the environments section;
// the wiring answers it from the clouds.
type Servers interface {
	// Servers returns how many servers env has and how many it declares.
	Servers(ctx context.Context, env string) (have, declared int, err error)
}

// Digest is one scheduled digest.
type Digest struct {
	Schedule string // a cron spec
	TimeZone string // IANA; "" is UTC
	Channel  string // a named channel
	// Include are the section names to show, in this order; every
	// section when empty.
	Include []string
}

// Module is the digests module.
type Module struct {
	h        *actions.Handle
	sections map[string]Section
	servers  Servers

	mu        sync.Mutex // one Reconfigure at a time
	scheduled []string   // the names of the digests' jobs in force
}

// DefaultSince is how far back the first digest looks.
const DefaultSince = 24 * time.Hour

// New makes the module on h, which must own Buckets: it registers
// `digest` and schedules every digest. servers may be nil (no server
// counts); sections are other modules' parts.
func New(h *actions.Handle, digests []Digest, sections []Section, servers Servers) (*Module, error) {
	m := &Module{h: h, sections: map[string]Section{}, servers: servers}
	m.sections[Environments] = Section{Name: Environments, Part: m.environments}
	m.sections[Runs] = Section{Name: Runs, Part: m.runs}
	for _, s := range sections {
		m.sections[s.Name] = s
	}
	if err := m.Reconfigure(digests); err != nil {
		return nil, err
	}
	h.Register(&actions.Action{
		Name: "digest", Summary: "the status digest, now",
		Help: "Shows the status digest: environments, checks, open incidents, broken CI jobs and the runs since " +
			"the last scheduled digest (or the last day). Sections with nothing to say are left out.",
		Query: func(ctx context.Context, req *actions.Request) (actions.Message, error) {
			since, err := m.lastAny(ctx)
			if err != nil {
				return actions.Message{}, err
			}
			return m.Compose(ctx, nil, since, time.UTC), nil
		},
	})
	return m, nil
}

// Reconfigure puts digests in place of those scheduled (a config reload).
// A digest is named by its channel (the second one to a channel
// "channel#2", and so on: a channel name holds no #, so no channel's
// first digest takes the name), and its last posting is kept under that
// name: a digest that stays keeps its next slot, so a reload never posts
// one whose slot already ran, and the next one covers the time since the
// last. A digest added waits for its first slot; one removed is no longer
// posted. A schedule that does not parse is an error, and then the
// digests in force may be partly replaced: the config was validated
// before, so it is not expected.
func (m *Module) Reconfigure(digests []Digest) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	channels := map[string]bool{}
	for _, d := range digests {
		channels[d.Channel] = true
	}
	perChannel := map[string]int{}
	var names []string
	for _, d := range digests {
		perChannel[d.Channel]++
		name, formerly := d.Channel, ""
		if n := perChannel[d.Channel]; n > 1 {
			name = fmt.Sprintf("%s#%d", d.Channel, n)
			// Its last posting was kept as "channel-2" before, unless
			// a digest of that channel owns the name.
			if old := fmt.Sprintf("%s-%d", d.Channel, n); !channels[old] {
				formerly = old
			}
		}
		if err := m.h.Reschedule(name, d.Schedule, d.TimeZone, func(ctx context.Context) error {
			return m.post(ctx, name, formerly, d)
		}); err != nil {
			return err
		}
		names = append(names, name)
	}
	for _, name := range m.scheduled {
		if !slices.Contains(names, name) {
			m.h.Unschedule(name)
		}
	}
	m.scheduled = names
	return nil
}

// post composes the digest d and posts it to its channel, remembering
// when under name, so that the next one starts from there. formerly, when
// not "", is the name its last posting was kept under before: read when
// name has none, and dropped once name has one.
func (m *Module) post(ctx context.Context, name, formerly string, d Digest) error {
	now := m.h.Now()
	since := now.Add(-DefaultSince)
	if err := m.h.Store().View(ctx, func(tx actions.Tx) error {
		b := tx.Bucket(bucketLast)
		v := b.Get([]byte(name))
		if v == nil && formerly != "" {
			v = b.Get([]byte(formerly))
		}
		if v != nil {
			return since.UnmarshalText(v)
		}
		return nil
	}); err != nil {
		return err
	}
	loc, err := time.LoadLocation(d.TimeZone)
	if err != nil {
		loc = time.UTC
	}
	msg := m.Compose(ctx, d.Include, since, loc)
	if _, err := m.h.Notify(ctx, []actions.Target{{Kind: actions.ToChannel, Name: d.Channel}}, msg); err != nil {
		// Not marked as posted: the next digest covers this one's
		// period too.
		return err
	}
	return m.h.Store().Update(ctx, func(tx actions.Tx) error {
		v, _ := now.MarshalText()
		b := tx.Bucket(bucketLast)
		if formerly != "" {
			if err := b.Delete([]byte(formerly)); err != nil {
				return err
			}
		}
		return b.Put([]byte(name), v)
	})
}

// lastAny is when any digest was last posted, or a day ago.
func (m *Module) lastAny(ctx context.Context) (time.Time, error) {
	since := m.h.Now().Add(-DefaultSince)
	err := m.h.Store().View(ctx, func(tx actions.Tx) error {
		return tx.Bucket(bucketLast).ForEach(func(_, v []byte) error {
			var t time.Time
			if err := t.UnmarshalText(v); err == nil && t.After(since) {
				since = t
			}
			return nil
		})
	})
	return since, err
}

// Compose writes the digest of the named sections (every section when
// include is empty) since the given time, showing times in loc. A
// section that fails is named with its error; one with nothing to say is
// left out.
func (m *Module) Compose(ctx context.Context, include []string, since time.Time, loc *time.Location) actions.Message {
	if len(include) == 0 {
		include = SectionNames
	}
	msg := actions.Message{
		Title: "status digest",
		Text:  "Since " + since.In(loc).Format("Mon 02 Jan 15:04 MST") + ".",
	}
	var summaries []string
	for _, name := range include {
		s, ok := m.sections[name]
		if !ok {
			continue // its module is not there
		}
		part, err := s.Part(ctx, since)
		if err != nil {
			m.h.Log().Warn("digest section failed", "section", name, "err", err)
			part = actions.Message{Title: name, Summary: "cannot tell: " + actions.ErrorMessage(err), Tone: actions.ToneWarning}
		}
		if part.Summary == "" && len(part.Lines) == 0 {
			continue
		}
		title := part.Title
		if title == "" {
			title = name
		}
		msg.Fields = append(msg.Fields, actions.Field{Label: title, Value: part.Summary})
		summaries = append(summaries, title+": "+part.Summary)
		if len(part.Lines) > 0 {
			if len(msg.Lines) > 0 {
				msg.Lines = append(msg.Lines, "")
			}
			msg.Lines = append(msg.Lines, title)
			for _, l := range part.Lines {
				msg.Lines = append(msg.Lines, "  "+l)
			}
		}
		msg.Links = append(msg.Links, part.Links...)
		if part.Tone == actions.ToneWarning || part.Tone == actions.ToneDanger {
			// A digest is a report, not a failure: warning at most.
			msg.Tone = actions.ToneWarning
		}
	}
	if len(summaries) == 0 {
		msg.Summary = "status digest: nothing to report"
		msg.Text += " Nothing to report."
	} else {
		msg.Summary = "status digest: " + strings.Join(summaries, "; ")
	}
	return msg
}

// environments is the environments section: each environment's servers
// (when the wiring counts them), lock, running run and pending requests.
func (m *Module) environments(ctx context.Context, since time.Time) (actions.Message, error) {
	envs := m.h.Environments()
	if len(envs) == 0 {
		return actions.Message{}, nil
	}
	sec := actions.Message{Title: "environments"}
	var locked, busy int
	for _, env := range envs {
		var parts []string
		if m.servers != nil {
			have, declared, err := m.servers.Servers(ctx, env)
			switch {
			case err != nil:
				parts = append(parts, "servers unknown: "+actions.ErrorMessage(err))
				sec.Tone = actions.ToneWarning
			case have != declared:
				parts = append(parts, fmt.Sprintf("%d/%d servers, not as declared", have, declared))
				sec.Tone = actions.ToneWarning
			default:
				parts = append(parts, fmt.Sprintf("%d/%d servers", have, declared))
			}
		}
		act, err := m.h.Activity(ctx, env)
		if err != nil {
			return actions.Message{}, err
		}
		if l := act.Lock; l != nil && l.Manual {
			locked++
			p := "locked by " + l.Person
			if l.Reason != "" {
				p += ": " + l.Reason
			}
			parts = append(parts, p)
		}
		for _, r := range act.Running {
			parts = append(parts, fmt.Sprintf("run %d (%s) by %s running", r.ID, r.Command, r.Person))
		}
		if len(act.Running) > 0 {
			busy++
		}
		if n := len(act.Pending); n > 0 {
			parts = append(parts, fmt.Sprintf("%d awaiting approval", n))
		}
		if len(parts) == 0 {
			parts = append(parts, "quiet")
		}
		sec.Lines = append(sec.Lines, fmt.Sprintf("%-12s %s", env, strings.Join(parts, " · ")))
	}
	sec.Summary = fmt.Sprintf("%d", len(envs))
	var notes []string
	if locked > 0 {
		notes = append(notes, fmt.Sprintf("%d locked", locked))
	}
	if busy > 0 {
		notes = append(notes, fmt.Sprintf("%d with a run going", busy))
	}
	if len(notes) > 0 {
		sec.Summary += " (" + strings.Join(notes, ", ") + ")"
	}
	return sec, nil
}

// maxRuns bounds the runs a digest lists.
const maxRuns = 20

// runs is the runs section: what was asked for since the last digest,
// newest first, and how it ended.
func (m *Module) runs(ctx context.Context, since time.Time) (actions.Message, error) {
	all, err := m.h.Runs(ctx, actions.RunFilter{Limit: 500})
	if err != nil {
		return actions.Message{}, err
	}
	var runs []*actions.Run
	for _, r := range all {
		if r.Created.Before(since) {
			break // newest first: the rest are older
		}
		runs = append(runs, r)
	}
	if len(runs) == 0 {
		return actions.Message{}, nil
	}
	sec := actions.Message{Title: "runs"}
	counts := map[actions.RunState]int{}
	for i, r := range runs {
		counts[r.State]++
		if i < maxRuns {
			line := fmt.Sprintf("%-4d %-28s %-8s %s", r.ID, r.Command, r.Person, r.State)
			if r.Error != "" && (r.State == actions.Failed || r.State == actions.Interrupted) {
				line += ": " + r.Error
			}
			sec.Lines = append(sec.Lines, line)
		}
		if r.State == actions.Failed || r.State == actions.Interrupted {
			sec.Tone = actions.ToneWarning
		}
	}
	if len(runs) > maxRuns {
		sec.Lines = append(sec.Lines, fmt.Sprintf("… and %d more (`runs` lists them)", len(runs)-maxRuns))
	}
	states := make([]string, 0, len(counts))
	for st := range counts {
		states = append(states, string(st))
	}
	slices.Sort(states)
	var parts []string
	for _, st := range states {
		parts = append(parts, fmt.Sprintf("%d %s", counts[actions.RunState(st)], st))
	}
	sec.Summary = fmt.Sprintf("%d (%s)", len(runs), strings.Join(parts, ", "))
	return sec, nil
}
