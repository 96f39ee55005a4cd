package cijobs_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/actionstest"
	"github.com/infrabot/infrabot/actions/cijobs"
	"github.com/infrabot/infrabot/actions/jenkins"
	"github.com/infrabot/infrabot/actions/jenkins/jenkinstest"
	"github.com/infrabot/infrabot/actions/zuul"
	"github.com/infrabot/infrabot/actions/zuul/zuultest"
)

const (
	standalone = "periodic-tripleo-ci-centos-9-standalone"
	pipeline   = "openstack-periodic-integration-main"
)

// ciWorld is the module in the test world, watching a fake Zuul and a
// fake Jenkins.
type ciWorld struct {
	*actionstest.World
	zuul    *zuultest.Server
	jenkins *jenkinstest.Server
	squads  []cijobs.Squad
	module  *cijobs.Module
	watches []cijobs.Watch // the sources as made at the last start
	jobs    []string       // the Jenkins jobs watched
	seen    int            // posts already returned by poll
	n       int            // builds added, for their ids
}

func ciSquad() cijobs.Squad {
	return cijobs.Squad{
		Name: "ci", Members: []string{"alice", "bob"}, Channel: "ci",
		Jobs: []string{"periodic-tripleo-ci-*-standalone*", "*promote*"}, RemindEvery: 24 * time.Hour,
	}
}

func newCIWorld(t testing.TB, shape zuultest.Shape, squads ...cijobs.Squad) *ciWorld {
	t.Helper()
	return newCIWorldWatching(t, []string{"promote-*"}, shape, squads...)
}

// newCIWorldWatching is newCIWorld with the Jenkins jobs watched.
func newCIWorldWatching(t testing.TB, jobs []string, shape zuultest.Shape, squads ...cijobs.Squad) *ciWorld {
	t.Helper()
	cw := &ciWorld{zuul: zuultest.New("rdo", shape), jenkins: jenkinstest.New("infrabot", "token-x"), squads: squads, jobs: jobs}
	t.Cleanup(cw.zuul.Close)
	t.Cleanup(cw.jenkins.Close)
	cw.World = actionstest.New(t, actionstest.Options{
		Channels: actions.Channels{
			"default": {actionstest.Platform: "C0DEFAULT"},
			"ci":      {actionstest.Platform: "C0CI"},
			"dfg":     {actionstest.Platform: "C0DFG"},
		},
		ApprovalsChannel: "default",
		Setup: func(w *actionstest.World) {
			h, err := w.Engine.Module(cijobs.Name, cijobs.Buckets...)
			if err != nil {
				t.Fatal(err)
			}
			z, err := zuul.New(zuul.Options{URL: cw.zuul.URL, Tenant: "rdo", Pipelines: []string{pipeline}})
			if err != nil {
				t.Fatal(err)
			}
			j, err := jenkins.New(jenkins.Options{URL: cw.jenkins.URL, User: "infrabot", Token: "token-x", Jobs: cw.jobs})
			if err != nil {
				t.Fatal(err)
			}
			cw.watches = []cijobs.Watch{
				{Name: "rdo-zuul", Schedule: "@every 5m", Source: z},
				{Name: "jenkins", Schedule: "@every 5m", Source: j},
			}
			if cw.module, err = cijobs.New(h, cw.squads, cw.watches); err != nil {
				t.Fatal(err)
			}
		},
	})
	return cw
}

// build adds a completed build of job to the fake Zuul, ending now
// (minus ago).
func (cw *ciWorld) build(job, result string, ago time.Duration) {
	cw.n++
	end := cw.Clock.Now().Add(-ago)
	cw.zuul.Add(zuultest.Build{
		UUID: fmt.Sprintf("uuid-%d", cw.n), Job: job, Pipeline: pipeline, Project: "config", Branch: "master",
		Result: result, Start: end.Add(-time.Hour), End: end,
		LogURL: fmt.Sprintf("https://logs.rdoproject.org/%d/", cw.n),
	})
}

// poll moves the clock to the next poll and returns what was posted.
func (cw *ciWorld) poll(after time.Duration) []actionstest.Posted {
	cw.T.Helper()
	cw.Clock.Advance(after)
	if cw.Tick() == 0 {
		cw.T.Fatal("no poll was due")
	}
	posts := cw.Chat.Posts()
	if len(posts) < cw.seen { // the world restarted with a fresh chat
		cw.seen = 0
	}
	out := posts[cw.seen:]
	cw.seen = len(posts)
	return out
}

func (cw *ciWorld) restart() {
	cw.Restart()
	cw.seen = 0
}

func summaries(posts []actionstest.Posted) string {
	var s []string
	for _, p := range posts {
		s = append(s, p.To+": "+p.Message.Summary)
	}
	return strings.Join(s, "\n")
}

func expectPosts(t *testing.T, posts []actionstest.Posted, want ...string) {
	t.Helper()
	if len(posts) != len(want) {
		t.Fatalf("%d messages, want %d:\n%s", len(posts), len(want), summaries(posts))
	}
	for i, w := range want {
		if got := posts[i].To + ": " + posts[i].Message.Summary; !strings.Contains(got, w) {
			t.Errorf("message %d = %q, want %q", i+1, got, w)
		}
	}
}

// The story of the issue: a job a squad owns breaks, the squad hears once
// with its members mentioned and the log linked; more failures stay quiet
// until the reminder is due; it passes and the squad hears that too. A job
// nobody owns breaks in silence.
func TestBrokenJobIsToldOnceThenRemindedThenRecovered(t *testing.T) {
	t.Parallel()
	for _, shape := range []struct {
		name  string
		shape zuultest.Shape
	}{{"nested", zuultest.Nested}, {"flat", zuultest.Flat}} {
		t.Run(shape.name, func(t *testing.T) {
			t.Parallel()
			cw := newCIWorld(t, shape.shape, ciSquad())
			cw.build(standalone, "SUCCESS", 26*time.Hour)
			cw.build("tripleo-ci-unowned", "SUCCESS", 26*time.Hour)
			expectPosts(t, cw.poll(5*time.Minute)) // green: nothing to say

			cw.build(standalone, "FAILURE", time.Minute)
			cw.build("tripleo-ci-unowned", "FAILURE", time.Minute)
			posts := cw.poll(5 * time.Minute)
			expectPosts(t, posts, "C0CI: "+standalone+" is broken: FAILURE")
			m := posts[0].Message
			if len(m.Mentions) != 2 || m.Mentions[0] != (actions.Mention{Person: "alice", ID: "UALICE"}) || m.Mentions[1] != (actions.Mention{Person: "bob", ID: "UBOB"}) {
				t.Errorf("mentions = %+v, want alice and bob with their ids", m.Mentions)
			}
			if len(m.Links) != 1 || m.Links[0].URL != "https://logs.rdoproject.org/3/" {
				t.Errorf("links = %+v, want the failed build's log", m.Links)
			}
			for _, want := range []string{"FAILURE", "after 1d2h green"} {
				if !strings.Contains(m.Text, want) {
					t.Errorf("text %q lacks %q", m.Text, want)
				}
			}
			fields := fmt.Sprint(m.Fields)
			for _, want := range []string{pipeline, "master", "FAILURE"} {
				if !strings.Contains(fields, want) {
					t.Errorf("fields %s lack %q", fields, want)
				}
			}

			cw.build(standalone, "TIMED_OUT", time.Minute)
			expectPosts(t, cw.poll(5*time.Minute)) // still broken: quiet
			expectPosts(t, cw.poll(5*time.Minute))

			expectPosts(t, cw.poll(24*time.Hour), "C0CI: "+standalone+" is still broken, for 1d")
			expectPosts(t, cw.poll(5*time.Minute))

			cw.build(standalone, "SUCCESS", 0)
			expectPosts(t, cw.poll(5*time.Minute), "C0CI: "+standalone+" passes again, after 1d")
			expectPosts(t, cw.poll(5*time.Minute))
		})
	}
}

func TestFailuresBeforeNotice(t *testing.T) {
	t.Parallel()
	sq := ciSquad()
	sq.FailuresBeforeNotice = 2
	cw := newCIWorld(t, zuultest.Nested, sq)
	cw.build(standalone, "SUCCESS", time.Hour)
	cw.build(standalone, "FAILURE", 0)
	expectPosts(t, cw.poll(5*time.Minute))
	cw.build(standalone, "SKIPPED", 0) // says nothing, counts nothing
	expectPosts(t, cw.poll(5*time.Minute))
	cw.build(standalone, "NODE_FAILURE", 0)
	posts := cw.poll(5 * time.Minute)
	expectPosts(t, posts, standalone+" is broken: NODE_FAILURE")
	if !strings.Contains(posts[0].Message.Text, "failed 2 times in a row") {
		t.Errorf("text = %q", posts[0].Message.Text)
	}
}

func TestFirstSeenFailing(t *testing.T) {
	t.Parallel()
	cw := newCIWorld(t, zuultest.Nested, ciSquad())
	cw.build(standalone, "POST_FAILURE", 0)
	posts := cw.poll(5 * time.Minute)
	expectPosts(t, posts, standalone+" is broken: POST_FAILURE")
	if !strings.Contains(posts[0].Message.Text, "has not passed since infrabot started watching it") {
		t.Errorf("text = %q", posts[0].Message.Text)
	}
}

// Every squad that owns a job hears about it in its own channel.
func TestTwoSquadsOwnOneJob(t *testing.T) {
	t.Parallel()
	dfg := cijobs.Squad{Name: "dfg", Members: []string{"carol"}, Channel: "dfg", Jobs: []string{"*-standalone"}}
	cw := newCIWorld(t, zuultest.Nested, ciSquad(), dfg)
	cw.build(standalone, "FAILURE", 0)
	posts := cw.poll(5 * time.Minute)
	expectPosts(t, posts, "C0CI: "+standalone+" is broken", "C0DFG: "+standalone+" is broken")
	if m := posts[1].Message.Mentions; len(m) != 1 || m[0].Person != "carol" || m[0].ID != "" {
		t.Errorf("dfg's mentions = %+v, want carol, who has no id on this platform", m)
	}
}

// A restart between polls neither repeats a notice nor misses a
// transition that happened while infrabot was down.
func TestRestartNeitherRepeatsNorMisses(t *testing.T) {
	t.Parallel()
	cw := newCIWorld(t, zuultest.Nested, ciSquad())
	cw.build(standalone, "SUCCESS", time.Hour)
	expectPosts(t, cw.poll(5*time.Minute))
	cw.build(standalone, "FAILURE", 0)
	expectPosts(t, cw.poll(5*time.Minute), standalone+" is broken")

	cw.restart()
	expectPosts(t, cw.poll(5*time.Minute)) // no repeat

	// Down for three hours: the job passed, then broke again.
	cw.Close()
	cw.Clock.Advance(time.Hour)
	cw.build(standalone, "SUCCESS", 0)
	cw.Clock.Advance(time.Hour)
	cw.build(standalone, "FAILURE", 0)
	cw.Clock.Advance(time.Hour)
	cw.Open()
	cw.seen = 0
	expectPosts(t, cw.poll(time.Second), standalone+" passes again", standalone+" is broken")
	expectPosts(t, cw.poll(5*time.Minute))
}

// A source that is down or answers garbage is reported once, and so is
// its recovery; its jobs are not declared silent meanwhile.
func TestSourceDownIsReportedOnceAndRecovers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		fault func(*zuultest.Server)
		mend  func(*zuultest.Server)
		want  string
	}{
		{"500", func(s *zuultest.Server) { s.Fail(http.StatusInternalServerError) }, func(s *zuultest.Server) { s.Fail(0) }, "answered 500"},
		{"garbage", func(s *zuultest.Server) { s.Garbage(true) }, func(s *zuultest.Server) { s.Garbage(false) }, "not a list of builds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sq := ciSquad()
			sq.StaleAfter = 2 * time.Hour
			cw := newCIWorld(t, zuultest.Nested, sq)
			cw.build(standalone, "SUCCESS", 0)
			expectPosts(t, cw.poll(5*time.Minute))
			tc.fault(cw.zuul)
			posts := cw.poll(5 * time.Minute)
			expectPosts(t, posts, "C0CI: CI source rdo-zuul cannot be read")
			if !strings.Contains(posts[0].Message.Summary, tc.want) {
				t.Errorf("summary %q lacks %q", posts[0].Message.Summary, tc.want)
			}
			expectPosts(t, cw.poll(5*time.Minute))
			expectPosts(t, cw.poll(3*time.Hour)) // not silent: the source is
			reply := cw.As("alice", "jobs")
			cw.Expect(reply, false, "rdo-zuul cannot be read since")

			tc.mend(cw.zuul)
			cw.build(standalone, "SUCCESS", 0)
			expectPosts(t, cw.poll(5*time.Minute), "CI source rdo-zuul answers again, after 3h10m")
			expectPosts(t, cw.poll(5*time.Minute))
		})
	}
}

// A job with no build for stale_after is reported once; when it builds
// again the squad hears that.
func TestSilentJobIsReportedOnce(t *testing.T) {
	t.Parallel()
	sq := ciSquad()
	sq.StaleAfter = 36 * time.Hour
	cw := newCIWorld(t, zuultest.Nested, sq)
	cw.build(standalone, "SUCCESS", 0)
	expectPosts(t, cw.poll(5*time.Minute))
	expectPosts(t, cw.poll(35*time.Hour))
	posts := cw.poll(time.Hour)
	expectPosts(t, posts, "C0CI: "+standalone+" has no build since")
	if len(posts[0].Message.Mentions) != 2 {
		t.Errorf("mentions = %+v", posts[0].Message.Mentions)
	}
	expectPosts(t, cw.poll(5*time.Minute))
	expectPosts(t, cw.poll(48*time.Hour))
	cw.build(standalone, "SUCCESS", 0)
	expectPosts(t, cw.poll(5*time.Minute), standalone+" reports again (SUCCESS)")
}

// Jenkins: a glob over the folder's listing, UNSTABLE breaks the job, a
// job that never completed is watched for silence from when it was
// first seen.
func TestJenkinsJobs(t *testing.T) {
	t.Parallel()
	sq := ciSquad()
	sq.StaleAfter = 36 * time.Hour
	cw := newCIWorld(t, zuultest.Nested, sq)
	start := cw.Clock.Now()
	cw.jenkins.Job("promote-master", jenkinstest.Build{Number: 1, Result: "SUCCESS", Start: start.Add(-2 * time.Hour), Duration: time.Minute})
	cw.jenkins.Job("promote-wallaby")
	expectPosts(t, cw.poll(5*time.Minute))
	cw.jenkins.Job("promote-master", jenkinstest.Build{Number: 2, Result: "UNSTABLE", Start: cw.Clock.Now(), Duration: time.Minute})
	posts := cw.poll(5 * time.Minute)
	expectPosts(t, posts, "promote-master is broken: UNSTABLE")
	if l := posts[0].Message.Links; len(l) != 1 || l[0].URL != cw.jenkins.URL+"/job/promote-master/2/console" {
		t.Errorf("links = %+v", l)
	}
	cw.jenkins.Job("promote-master", jenkinstest.Build{Number: 3, Result: "ABORTED", Start: cw.Clock.Now(), Duration: time.Minute})
	expectPosts(t, cw.poll(5*time.Minute))
	posts = cw.poll(36 * time.Hour)
	// Broken and silent both: a job that stopped running is news even
	// when it is broken.
	expectPosts(t, posts, "promote-master is still broken", "promote-master has no build since", "promote-wallaby has no build since infrabot started watching it")
}

// A job the config names that is renamed or deleted on Jenkins is told
// to its squad once and shown as not found in `jobs`; the source's other
// jobs are watched as ever, and the squads hear nothing of the source
// being down.
func TestAJobGoneFromJenkinsIsToldOnceAndTheOthersWatched(t *testing.T) {
	t.Parallel()
	cw := newCIWorldWatching(t, []string{"promote-master", "promote-wallaby"}, zuultest.Nested, ciSquad())
	start := cw.Clock.Now()
	cw.jenkins.Job("promote-master", jenkinstest.Build{Number: 1, Result: "SUCCESS", Start: start.Add(-time.Hour), Duration: time.Minute})
	cw.jenkins.Job("promote-wallaby", jenkinstest.Build{Number: 1, Result: "SUCCESS", Start: start.Add(-time.Hour), Duration: time.Minute})
	expectPosts(t, cw.poll(5*time.Minute))

	cw.jenkins.Remove("promote-wallaby")
	posts := cw.poll(5 * time.Minute)
	expectPosts(t, posts, "C0CI: promote-wallaby is not found on jenkins")
	if len(posts[0].Message.Mentions) != 2 {
		t.Errorf("mentions = %+v, want the squad's members", posts[0].Message.Mentions)
	}
	cw.jenkins.Job("promote-master", jenkinstest.Build{Number: 2, Result: "FAILURE", Start: cw.Clock.Now(), Duration: time.Minute})
	expectPosts(t, cw.poll(5*time.Minute), "C0CI: promote-master is broken: FAILURE")
	cw.restart()
	expectPosts(t, cw.poll(5*time.Minute))

	r := cw.As("alice", "jobs")
	cw.Expect(r, false, "2 jobs: 1 broken, 0 failing, 0 silent, 0 passing, 1 not found")
	if len(r.Lines) != 2 || !strings.HasPrefix(r.Lines[1], "⊘ ci: promote-wallaby — not found on jenkins since") {
		t.Errorf("lines = %q", r.Lines)
	}
	if r.Footer != "" {
		t.Errorf("footer = %q, want no source down", r.Footer)
	}
	if sec, err := cw.module.DigestSection(context.Background(), time.Time{}); err != nil || sec.Summary != "1 broken, 1 not found in squad ci" {
		t.Errorf("digest section = %q, %v", sec.Summary, err)
	}

	// Back (a rename undone): watched again, without a word.
	cw.jenkins.Job("promote-wallaby", jenkinstest.Build{Number: 2, Result: "SUCCESS", Start: cw.Clock.Now(), Duration: time.Minute})
	expectPosts(t, cw.poll(5*time.Minute))
	cw.Expect(cw.As("alice", "jobs"), false, "2 jobs: 1 broken, 0 failing, 0 silent, 1 passing")
}

func TestJobsCommand(t *testing.T) {
	t.Parallel()
	dfg := cijobs.Squad{Name: "dfg", Members: []string{"carol"}, Channel: "dfg", Jobs: []string{"periodic-dfg-*"}}
	cw := newCIWorld(t, zuultest.Nested, ciSquad(), dfg)
	cw.build("periodic-tripleo-ci-a-standalone", "SUCCESS", time.Hour)
	cw.build("periodic-dfg-x", "SUCCESS", time.Hour)
	cw.build(standalone, "SUCCESS", 3*time.Hour)
	cw.build(standalone, "RETRY_LIMIT", 2*time.Hour)
	cw.poll(5 * time.Minute)

	r := cw.As("alice", "jobs")
	cw.Expect(r, false, "3 jobs: 1 broken, 0 failing, 0 silent, 2 passing")
	if len(r.Lines) != 3 || !strings.HasPrefix(r.Lines[0], "✗ ci: "+standalone+" ("+pipeline+", config, master) — broken RETRY_LIMIT since") {
		t.Errorf("lines = %q", r.Lines)
	}
	if len(r.Links) != 1 || r.Links[0].URL != "https://logs.rdoproject.org/4/" {
		t.Errorf("links = %+v", r.Links)
	}
	r = cw.As("alice", "jobs dfg")
	cw.Expect(r, false, "1 jobs: 0 broken")
	if len(r.Lines) != 1 || !strings.Contains(r.Lines[0], "periodic-dfg-x") {
		t.Errorf("lines = %q", r.Lines)
	}
	cw.Expect(cw.As("alice", "jobs nope"), true, `there is no squad "nope"; squads: ci, dfg`)
}

func TestGlob(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"periodic-tripleo-ci-*-standalone*", "periodic-tripleo-ci-centos-9-standalone", true},
		{"periodic-tripleo-ci-*-standalone*", "periodic-tripleo-ci-centos-9-standalone-upgrade", true},
		{"periodic-tripleo-ci-*-standalone*", "periodic-tripleo-ci-centos-9-multinode", false},
		{"*promote*", "tripleo/periodic/promote-zed", true},
		{"promote-?", "promote-a", true},
		{"promote-?", "promote-ab", false},
		{"exact", "exact", true},
		{"exact", "exactly", false},
		{"*", "", true},
		{"a*b*c", "aXbYbZc", true},
		{"a*b*c", "aXbYbZ", false},
	}
	for _, tc := range tests {
		if got := cijobs.Glob(tc.pattern, tc.name); got != tc.want {
			t.Errorf("Glob(%q, %q) = %v, want %v", tc.pattern, tc.name, got, tc.want)
		}
	}
}

// The digest's jobs section names the broken jobs of every squad with
// their logs, and is left out (a zero message) while every job is well.
func TestDigestSection(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dfg := cijobs.Squad{Name: "dfg", Members: []string{"carol"}, Channel: "dfg", Jobs: []string{"periodic-dfg-*"}}
	cw := newCIWorld(t, zuultest.Nested, ciSquad(), dfg)
	cw.build(standalone, "SUCCESS", time.Hour)
	cw.build("periodic-dfg-x", "SUCCESS", time.Hour)
	cw.poll(5 * time.Minute)
	if m, err := cw.module.DigestSection(ctx, time.Time{}); err != nil || m.Title != "" || m.Summary != "" || len(m.Lines) != 0 {
		t.Errorf("section with every job passing = %+v, %v; want nothing", m, err)
	}

	cw.build(standalone, "FAILURE", 0)
	cw.poll(5 * time.Minute)
	m, err := cw.module.DigestSection(ctx, time.Time{})
	if err != nil || m.Summary != "1 broken in squad ci" || m.Tone != actions.ToneDanger {
		t.Errorf("section = %q (tone %q), %v; want 1 broken in squad ci", m.Summary, m.Tone, err)
	}
	if len(m.Lines) != 1 || !strings.HasPrefix(m.Lines[0], "✗ ci: "+standalone+" ("+pipeline+", config, master) — broken FAILURE since") {
		t.Errorf("lines = %q", m.Lines)
	}
	if len(m.Links) != 1 || m.Links[0].URL != "https://logs.rdoproject.org/3/" {
		t.Errorf("links = %+v", m.Links)
	}

	cw.build("periodic-dfg-x", "TIMED_OUT", 0)
	cw.poll(5 * time.Minute)
	m, _ = cw.module.DigestSection(ctx, time.Time{})
	if m.Summary != "2 broken in 2 squads" || len(m.Lines) != 2 || len(m.Links) != 2 {
		t.Fatalf("section = %q %q %+v", m.Summary, m.Lines, m.Links)
	}
	all := strings.Join(m.Lines, "\n")
	if !strings.Contains(all, "✗ ci: "+standalone) || !strings.Contains(all, "✗ dfg: periodic-dfg-x") || !strings.Contains(all, "TIMED_OUT") {
		t.Errorf("lines = %q", m.Lines)
	}

	cw.build(standalone, "SUCCESS", 0)
	cw.build("periodic-dfg-x", "SUCCESS", 0)
	cw.poll(5 * time.Minute)
	if m, _ := cw.module.DigestSection(ctx, time.Time{}); m.Summary != "" || len(m.Lines) != 0 {
		t.Errorf("section after recovery = %q %q; want nothing", m.Summary, m.Lines)
	}
}

// A reload that adds a squad makes its notices flow at the source's next
// poll, without a restart; the squad that stays keeps its state (no notice
// repeated) and the source keeps its slot; a removed source is no longer
// polled, and a schedule that does not parse is refused whole.
func TestReconfigureAddsSquadKeepsState(t *testing.T) {
	t.Parallel()
	cw := newCIWorld(t, zuultest.Nested, ciSquad())
	cw.build(standalone, "FAILURE", 0)
	expectPosts(t, cw.poll(5*time.Minute), "C0CI: "+standalone+" is broken")
	slot, ok := cw.Sched.Next("cijobs/poll-rdo-zuul")
	if !ok {
		t.Fatal("the zuul source is not scheduled")
	}

	cw.Clock.Advance(2 * time.Minute)
	bad := []cijobs.Watch{{Name: "rdo-zuul", Schedule: "every five minutes", Source: cw.watches[0].Source}}
	if err := cw.module.Reconfigure(nil, bad); err == nil {
		t.Fatal("a source with a schedule that does not parse was taken")
	}
	dfg := cijobs.Squad{Name: "dfg", Members: []string{"carol"}, Channel: "dfg", Jobs: []string{"*-standalone"}}
	if err := cw.module.Reconfigure([]cijobs.Squad{ciSquad(), dfg}, cw.watches[:1]); err != nil {
		t.Fatal(err)
	}
	if next, _ := cw.Sched.Next("cijobs/poll-rdo-zuul"); !next.Equal(slot) {
		t.Errorf("the source's next poll moved from %s to %s at the reload", slot, next)
	}
	if _, ok := cw.Sched.Next("cijobs/poll-jenkins"); ok {
		t.Error("a source the config no longer has is still polled")
	}
	if n := cw.Tick(); n != 0 {
		t.Fatalf("%d polls fired at the reload", n)
	}
	cw.build(standalone, "FAILURE", 0)
	expectPosts(t, cw.poll(3*time.Minute), "C0DFG: "+standalone+" is broken")
	r := cw.As("alice", "jobs dfg")
	cw.Expect(r, false, standalone)
}
