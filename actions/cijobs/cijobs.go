// Package cijobs is the CI jobs module: it watches CI systems (Zuul,
// Jenkins) on schedules and tells the squad that owns a job, in the
// squad's channel and mentioning its members, when the job goes from
// passing to failing, when it stays broken (a reminder), when it passes
// again, and when it stops reporting. It answers `jobs [squad]`.
//
// A CI system is reached through the Source interface, which an adapter
// package implements (actions/zuul, actions/jenkins). The module keeps
// what it knows of every job in its own buckets, so a restart neither
// repeats a notice nor misses a transition that happened while it was
// down.
package cijobs

import (
	"context"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/infrabot/infrabot/actions"
)

// Name is the module's name, for Engine.Module.
const Name = "cijobs"

// Buckets are the storage buckets the module declares.
var Buckets = []string{bucketJobs, bucketSources, bucketOutbox}

// Source is a CI system whose builds infrabot watches.
type Source interface {
	// Poll returns the completed builds the source reports, newest
	// first. since is the newest build end seen at the previous poll
	// (zero at the first): a source that pages goes back at least that
	// far when it can. Running builds and retried attempts are left
	// out. An error means the source could not be read; its message
	// (an *actions.Error) is shown in chat and must hold no secret.
	Poll(ctx context.Context, since time.Time) (Report, error)
}

// Report is what one poll of a source found.
type Report struct {
	// Builds are completed builds, newest first.
	Builds []Build
	// Jobs are the jobs the source knows to exist, built or not, where it
	// can list them (Jenkins); nil where jobs are known only by their
	// builds (Zuul).
	Jobs []JobID
	// Missing are jobs the config names outright that the source says do
	// not exist (Jenkins answers 404: renamed or deleted).
	Missing []JobID
}

// JobID names a job on its source. Zuul runs one job in several
// pipelines, projects and branches; each is watched apart.
type JobID struct {
	Name     string // the job's name (Jenkins: its full name, folder/job)
	Pipeline string `json:",omitempty"`
	Project  string `json:",omitempty"`
	Branch   string `json:",omitempty"`
}

// key is the job's storage key within its source.
func (j JobID) key() string {
	return j.Name + "\x1f" + j.Pipeline + "\x1f" + j.Project + "\x1f" + j.Branch
}

// Where says where the job runs, for people: "pipeline, project, branch".
func (j JobID) Where() string {
	var parts []string
	for _, p := range []string{j.Pipeline, j.Project, j.Branch} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, ", ")
}

// Outcome is what a build says about its job.
type Outcome string

// Outcomes.
const (
	// Pass: the job works.
	Pass Outcome = "pass"
	// Fail: the job is broken (a failure, a timeout, a node failure…).
	Fail Outcome = "fail"
	// NoSignal: the build says nothing either way (skipped, aborted,
	// cancelled); it changes no state.
	NoSignal Outcome = "none"
)

// Build is one completed build of a job.
type Build struct {
	Job     JobID
	ID      string // Zuul's uuid, Jenkins' build number
	Result  string // as the CI system says it: SUCCESS, FAILURE, POST_FAILURE…
	Outcome Outcome
	Started time.Time
	Ended   time.Time
	URL     string // its logs
}

// at is when the build counts as having happened: its end, or its start
// when the source did not say when it ended.
func (b Build) at() time.Time {
	if b.Ended.IsZero() {
		return b.Started
	}
	return b.Ended
}

// Squad is a group of people who own some jobs and hear about them in
// their channel.
type Squad struct {
	Name    string
	Members []string // people, by config name
	Channel string   // a named channel from the config
	// Jobs are globs over job names ("periodic-*-standalone*"); * matches
	// any run of characters, slashes included, and ? one character.
	Jobs []string
	// FailuresBeforeNotice is how many failures in a row break a job
	// (default 1).
	FailuresBeforeNotice int
	// RemindEvery is how often a broken job is brought up again (default
	// 24h).
	RemindEvery time.Duration
	// StaleAfter is how long a job may go without a build before the
	// squad is told; 0 never.
	StaleAfter time.Duration
}

// Owns reports whether the job called name is one of the squad's.
func (s *Squad) Owns(name string) bool {
	for _, g := range s.Jobs {
		if Glob(g, name) {
			return true
		}
	}
	return false
}

// Defaults for squads that do not say.
const (
	DefaultRemindEvery = 24 * time.Hour
	DefaultSchedule    = "@every 5m"
)

// Watch is a source and the schedule it is polled on.
type Watch struct {
	Name     string // the source's name in the config
	Schedule string // a cron spec; DefaultSchedule when empty
	Source   Source
}

// Module is the CI jobs module.
type Module struct {
	h   *actions.Handle
	cur atomic.Pointer[setup] // the squads and sources in force

	reconfigure sync.Mutex // one Reconfigure at a time
	flushMu     sync.Mutex // one outbox flush at a time, so none is sent twice
}

// setup is the squads and sources of one config; a reload puts a new one
// in place whole, so a poll sees one config or the other, never a mix.
type setup struct {
	squads  []*Squad // sorted by name
	sources []Watch
}

// New makes the module on h, which must own Buckets: it registers `jobs`
// and polls every source on its schedule.
func New(h *actions.Handle, squads []Squad, sources []Watch) (*Module, error) {
	m := &Module{h: h}
	if err := m.Reconfigure(squads, sources); err != nil {
		return nil, err
	}
	h.Register(&actions.Action{
		Name: "jobs", Summary: "state of watched CI jobs, broken ones first",
		Help: "Shows the CI jobs each squad owns: broken ones first, with since when, their last result and " +
			"a link to the logs. `jobs <squad>` shows one squad's.",
		Args:  []actions.Arg{{Name: "squad", Kind: actions.ArgWord, Optional: true}},
		Query: m.jobsCommand,
	})
	return m, nil
}

// Reconfigure puts squads and sources in place of those in force (a
// config reload). What the module stored stays: a job's state is kept
// under its squad and source, so a squad or source that stays carries on
// where it was (no notice repeated), one that is added starts fresh at
// its source's next poll, and one that is removed is no longer polled or
// shown, its state kept should it come back. A source whose schedule
// stays keeps its next poll. A schedule that does not parse is an error
// and leaves the sources in force as they were.
func (m *Module) Reconfigure(squads []Squad, sources []Watch) error {
	m.reconfigure.Lock()
	defer m.reconfigure.Unlock()
	next := &setup{}
	for _, s := range squads {
		if s.FailuresBeforeNotice <= 0 {
			s.FailuresBeforeNotice = 1
		}
		if s.RemindEvery <= 0 {
			s.RemindEvery = DefaultRemindEvery
		}
		next.squads = append(next.squads, &s)
	}
	sort.Slice(next.squads, func(i, j int) bool { return next.squads[i].Name < next.squads[j].Name })
	for _, w := range sources {
		if w.Schedule == "" {
			w.Schedule = DefaultSchedule
		}
		next.sources = append(next.sources, w)
	}
	prev := m.cur.Load()
	for _, w := range next.sources {
		if err := m.h.Reschedule("poll-"+w.Name, w.Schedule, "", func(ctx context.Context) error {
			return m.Poll(ctx, w.Name)
		}); err != nil {
			// Put the sources in force back on their schedules.
			if prev != nil {
				for _, p := range prev.sources {
					_ = m.h.Reschedule("poll-"+p.Name, p.Schedule, "", func(ctx context.Context) error {
						return m.Poll(ctx, p.Name)
					})
				}
			}
			return err
		}
	}
	if prev != nil {
		for _, p := range prev.sources {
			if !next.watches(p.Name) {
				m.h.Unschedule("poll-" + p.Name)
			}
		}
	}
	m.cur.Store(next)
	return nil
}

// inForce is the setup in force.
func (m *Module) inForce() *setup { return m.cur.Load() }

func (c *setup) squad(name string) (*Squad, bool) {
	for _, s := range c.squads {
		if s.Name == name {
			return s, true
		}
	}
	return nil, false
}

func (c *setup) squadNames() []string {
	out := make([]string, len(c.squads))
	for i, s := range c.squads {
		out[i] = s.Name
	}
	return out
}

func (c *setup) watches(source string) bool {
	for _, w := range c.sources {
		if w.Name == source {
			return true
		}
	}
	return false
}

// channels returns the distinct channels of every squad, where news of a
// source goes.
func (c *setup) channels() []actions.Target {
	seen := map[string]bool{}
	var out []actions.Target
	for _, s := range c.squads {
		if !seen[s.Channel] {
			seen[s.Channel] = true
			out = append(out, actions.Target{Kind: actions.ToChannel, Name: s.Channel})
		}
	}
	return out
}

// stamp formats a time for messages.
func stamp(t time.Time) string { return t.UTC().Format("Mon 02 Jan 15:04 UTC") }
