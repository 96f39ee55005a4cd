package digest_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/actionstest"
	"github.com/infrabot/infrabot/actions/cijobs"
	"github.com/infrabot/infrabot/actions/digest"
	"github.com/infrabot/infrabot/actions/health"
	"github.com/infrabot/infrabot/actions/health/healthtest"
	"github.com/infrabot/infrabot/actions/schedule"
	"github.com/infrabot/infrabot/actions/zuul"
	"github.com/infrabot/infrabot/actions/zuul/zuultest"
	"github.com/infrabot/infrabot/bot"
	idiscord "github.com/infrabot/infrabot/bot/discord"
	islack "github.com/infrabot/infrabot/bot/slack"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// servers counts servers as a cloud would: staging has all it declares,
// production one of two.
type servers map[string][2]int

func (s servers) Servers(ctx context.Context, env string) (int, int, error) {
	c, ok := s[env]
	if !ok {
		return 0, 0, actions.Errorf(actions.Unavailable, "cloud sim does not answer")
	}
	return c[0], c[1], nil
}

// jobsSection is a section as another module writes one: the wiring
// hands it over. The golden test uses the real modules' sections.
func jobsSection(ctx context.Context, since time.Time) (actions.Message, error) {
	return actions.Message{
		Title: "CI jobs", Summary: "1 broken in squad ci", Tone: actions.ToneDanger,
		Lines: []string{"✗ ci: periodic-tripleo-ci-centos-9-standalone (openstack-periodic-integration-main, master) — broken FAILURE since Sat 21 Nov 09:12 UTC (2h48m)"},
		Links: []actions.Link{{Label: "logs of periodic-tripleo-ci-centos-9-standalone", URL: "https://logs.rdoproject.org/42/"}},
	}, nil
}

func quiet(ctx context.Context, since time.Time) (actions.Message, error) {
	return actions.Message{}, nil
}

type world struct {
	*actionstest.World
	digest *digest.Module
}

func newWorld(t *testing.T, digests []digest.Digest, sections []digest.Section, srv digest.Servers) *world {
	t.Helper()
	dw := &world{}
	dw.World = actionstest.New(t, actionstest.Options{
		Setup: func(w *actionstest.World) {
			h, err := w.Engine.Module(digest.Name, digest.Buckets...)
			if err != nil {
				t.Fatal(err)
			}
			if dw.digest, err = digest.New(h, digests, sections, srv); err != nil {
				t.Fatal(err)
			}
		},
	})
	return dw
}

// state puts a known state in the store: bob has locked staging, run 3
// provisions it, a teardown of production waits for approval; two runs
// ended before, one of them two days ago.
func (dw *world) state(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	now := dw.Clock.Now()
	for _, r := range []*actions.Run{
		{Action: "provision", Env: "staging", Command: "provision staging", Person: "alice", State: actions.Succeeded, Created: now.Add(-48 * time.Hour)},
		{Action: "deploy", Env: "staging", Command: "deploy staging promoter", Person: "bob", State: actions.Failed, Error: "step 2 exited 1", Created: now.Add(-3 * time.Hour)},
		{Action: "provision", Env: "staging", Command: "provision staging", Person: "bob", State: actions.Running, Created: now.Add(-time.Minute)},
		{Action: "teardown", Env: "production", Command: "teardown production", Person: "bob", State: actions.AwaitingApproval, Created: now.Add(-time.Minute)},
	} {
		if err := dw.DB.CreateRun(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := dw.DB.UpdateLock(ctx, "staging", func(*actions.Lock) (*actions.Lock, error) {
		return &actions.Lock{Env: "staging", Person: "bob", Reason: "db upgrade", Since: now.Add(-time.Hour), Manual: true, RunID: 3}, nil
	}); err != nil {
		t.Fatal(err)
	}
}

const (
	standalone = "periodic-tripleo-ci-centos-9-standalone"
	pipeline   = "openstack-periodic-integration-main"
)

// live is the digest with the real modules whose sections it shows:
// health checks probing two services on loopback (the log server's made
// to fail) and CI jobs polled from a fake Zuul speaking its real JSON.
type live struct {
	*world
	health   *health.Module
	ci       *cijobs.Module
	logs     *healthtest.Service
	registry *healthtest.Service
	zuul     *zuultest.Server
}

func newLiveWorld(t *testing.T, srv digest.Servers) *live {
	t.Helper()
	l := &live{world: &world{}, logs: healthtest.NewService(t), registry: healthtest.NewService(t), zuul: zuultest.New("rdo", zuultest.Nested)}
	t.Cleanup(l.zuul.Close)
	check := func(name, url string) health.Check {
		return health.Check{
			Name: name, Kind: health.HTTP, URL: url, Schedule: "@every 10m", Timeout: 2 * time.Second,
			Expect: health.Expect{Status: 200, BodyContains: "ok"},
		}
	}
	l.World = actionstest.New(t, actionstest.Options{
		Channels: actions.Channels{
			"default": {actionstest.Platform: "C0DEFAULT"},
			"ci":      {actionstest.Platform: "C0CI"},
		},
		ApprovalsChannel: "default",
		Setup: func(w *actionstest.World) {
			hh, err := w.Engine.Module(health.Name, health.Buckets...)
			if err != nil {
				t.Fatal(err)
			}
			parse := func(spec, tz string) (health.Schedule, error) { return schedule.Parse(spec, tz) }
			if l.health, err = health.New(hh, []health.Check{check("logserver-http", l.logs.URL), check("registry", l.registry.URL)}, health.Options{Parse: parse}); err != nil {
				t.Fatal(err)
			}
			ch, err := w.Engine.Module(cijobs.Name, cijobs.Buckets...)
			if err != nil {
				t.Fatal(err)
			}
			z, err := zuul.New(zuul.Options{URL: l.zuul.URL, Tenant: "rdo", Pipelines: []string{pipeline}})
			if err != nil {
				t.Fatal(err)
			}
			squad := cijobs.Squad{Name: "ci", Members: []string{"alice", "bob"}, Channel: "ci", Jobs: []string{"periodic-tripleo-ci-*-standalone*"}}
			if l.ci, err = cijobs.New(ch, []cijobs.Squad{squad}, []cijobs.Watch{{Name: "rdo-zuul", Schedule: "@every 5m", Source: z}}); err != nil {
				t.Fatal(err)
			}
			dh, err := w.Engine.Module(digest.Name, digest.Buckets...)
			if err != nil {
				t.Fatal(err)
			}
			if l.digest, err = digest.New(dh, nil, []digest.Section{
				{Name: digest.Checks, Part: l.health.ChecksSection},
				{Name: digest.Incidents, Part: l.health.IncidentsSection},
				{Name: digest.Jobs, Part: l.ci.DigestSection},
			}, srv); err != nil {
				t.Fatal(err)
			}
		},
	})
	// Let probes in flight finish before the store closes.
	t.Cleanup(func() { l.health.Close() })
	return l
}

// build adds a completed build of job to the fake Zuul, ended ago.
func (l *live) build(n int, job, result string, ago time.Duration) {
	end := l.Clock.Now().Add(-ago)
	l.zuul.Add(zuultest.Build{
		UUID: fmt.Sprintf("uuid-%d", n), Job: job, Pipeline: pipeline, Project: "config", Branch: "master",
		Result: result, Start: end.Add(-time.Hour), End: end,
		LogURL: fmt.Sprintf("https://logs.rdoproject.org/%d/", n),
	})
}

// step moves the clock by d, runs what is due and waits for the checks.
func (l *live) step(d time.Duration) {
	l.Clock.Advance(d)
	l.Tick()
	l.health.Wait()
}

// A digest rendered from a known state says what the state says, on
// every platform. The state is made through the real modules: the
// registry answers throughout, the log server answers for an hour and
// then fails for half an hour (an incident, acknowledged by alice); one
// standalone job passes, the other broke; bob holds staging's lock while
// run 3 provisions it, and a teardown of production awaits approval.
func TestDigestGolden(t *testing.T) {
	t.Parallel()
	l := newLiveWorld(t, servers{"staging": {3, 3}, "production": {1, 2}})
	l.build(1, standalone+"-upgrade", "SUCCESS", 2*time.Hour)
	l.build(2, standalone, "SUCCESS", 26*time.Hour)
	l.build(3, standalone, "FAILURE", 2*time.Hour+48*time.Minute)
	for range 6 {
		l.step(10 * time.Minute)
	}
	l.logs.Failing.Store(true)
	for range 3 {
		l.step(10 * time.Minute)
	}
	l.Expect(l.As("alice", "ack 1"), false)
	l.state(t)

	since := l.Clock.Now().Add(-24 * time.Hour)
	prague, err := time.LoadLocation("Europe/Prague")
	if err != nil {
		t.Fatal(err)
	}
	m := l.digest.Compose(context.Background(), nil, since, prague)

	actionstest.Golden(t, "digest.txt", []byte(bot.Text(m)), *update)
	actionstest.Golden(t, "digest.slack.json", actionstest.JSON(t, islack.Render(m)), *update)
	actionstest.Golden(t, "digest.discord.json", actionstest.JSON(t, idiscord.Render(m)), *update)

	text := bot.Text(m)
	for _, want := range []string{
		"Since Fri 20 Nov 14:30 CET.",
		"production   1/2 servers, not as declared · 1 awaiting approval",
		"staging      3/3 servers · locked by bob: db upgrade · run 3 (provision staging) by bob running",
		"checks: 1 up, 1 down",
		"✗ logserver-http down since Nov 21 13:10 UTC (20m00s): status 503, want 200 · 66.7% up in 24h",
		"✓ registry up · 100.0% up in 24h",
		"open incidents: 1 open",
		"#1 logserver-http — 10m00s old, acknowledged by alice: status 503, want 200",
		"CI jobs: 1 broken in squad ci",
		"✗ ci: " + standalone + " (" + pipeline + ", config, master) — broken FAILURE since Sat 21 Nov 09:12 UTC (4h18m)",
		"logs of " + standalone + ": https://logs.rdoproject.org/3/",
		"runs: 3 (1 awaiting-approval, 1 failed, 1 running)", // not the run of two days ago
	} {
		if !strings.Contains(text, want) {
			t.Errorf("digest lacks %q:\n%s", want, text)
		}
	}
	for _, not := range []string{"alice    ", standalone + "-upgrade"} {
		if strings.Contains(text, not) {
			t.Errorf("the digest shows %q (a run from before since, or a passing job):\n%s", not, text)
		}
	}
	if m.Tone != actions.ToneWarning {
		t.Errorf("tone = %q, want warning: some sections are", m.Tone)
	}
}

// A section whose module is absent, or that has nothing to say, is left
// out; a section that fails says so instead of sinking the digest.
func TestSectionsLeftOut(t *testing.T) {
	t.Parallel()
	failing := func(ctx context.Context, since time.Time) (actions.Message, error) {
		return actions.Message{}, errors.New("bbolt: database not open")
	}
	dw := newWorld(t, nil, []digest.Section{{Name: digest.Jobs, Part: quiet}, {Name: digest.Checks, Part: failing}}, nil)
	m := dw.digest.Compose(context.Background(), nil, dw.Clock.Now().Add(-time.Hour), time.UTC)
	var labels []string
	for _, f := range m.Fields {
		labels = append(labels, f.Label+": "+f.Value)
	}
	want := "environments: 2; checks: cannot tell: internal error; the details are in infrabot's log"
	if strings.Join(labels, "; ") != want {
		t.Errorf("sections = %q, want %q", labels, want)
	}
	if strings.Contains(bot.Text(m), "bbolt") {
		t.Error("an internal error reached the digest")
	}

	dw = newWorld(t, nil, nil, nil)
	m = dw.digest.Compose(context.Background(), []string{digest.Checks, digest.Incidents, digest.Runs}, dw.Clock.Now().Add(-time.Hour), time.UTC)
	if m.Summary != "status digest: nothing to report" || len(m.Fields) != 0 || len(m.Lines) != 0 {
		t.Errorf("empty digest = %+v", m)
	}
}

// A scheduled digest is posted to its channel at its time in its time
// zone, and the next one covers the runs since.
func TestScheduledDigest(t *testing.T) {
	t.Parallel()
	dw := newWorld(t, []digest.Digest{{Schedule: "0 9 * * 1-5", TimeZone: "Europe/Prague", Channel: "default", Include: []string{digest.Runs, digest.Jobs}}},
		[]digest.Section{{Name: digest.Jobs, Part: jobsSection}}, nil)
	// Saturday 12:00 UTC: nothing until Monday 09:00 in Prague (08:00 UTC).
	dw.Clock.Advance(43*time.Hour + 59*time.Minute)
	if n := dw.Tick(); n != 0 {
		t.Fatalf("%d jobs ran before Monday 09:00 Prague", n)
	}
	dw.Clock.Advance(time.Minute)
	if n := dw.Tick(); n != 1 {
		t.Fatalf("%d jobs ran at Monday 09:00 Prague, want the digest", n)
	}
	posts := dw.Chat.Posts()
	if len(posts) != 1 || posts[0].To != "C0DEFAULT" {
		t.Fatalf("posts = %+v", posts)
	}
	m := posts[0].Message
	if !strings.Contains(m.Text, "Since Sun 22 Nov 09:00 CET") || len(m.Fields) != 1 || m.Fields[0].Label != "CI jobs" {
		t.Errorf("first digest = %s", bot.Text(m))
	}

	if err := dw.DB.CreateRun(context.Background(), &actions.Run{Action: "deploy", Command: "deploy staging", Person: "bob", State: actions.Succeeded, Created: dw.Clock.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	dw.Restart()
	dw.Clock.Advance(24 * time.Hour)
	if n := dw.Tick(); n != 1 {
		t.Fatalf("%d jobs ran on Tuesday", n)
	}
	posts = dw.Chat.Posts()
	if len(posts) != 1 {
		t.Fatalf("posts after restart = %d", len(posts))
	}
	m = posts[0].Message
	if !strings.Contains(m.Text, "Since Mon 23 Nov 09:00 CET") || !strings.Contains(bot.Text(m), "deploy staging") {
		t.Errorf("second digest = %s", bot.Text(m))
	}
	if m.Fields[0].Label != "runs" {
		t.Errorf("sections in the wrong order: %+v", m.Fields)
	}

	r := dw.As("alice", "digest")
	dw.Expect(r, false, "Since Tue 24 Nov 08:00 UTC", "CI jobs: 1 broken in squad ci")
}

// A reload keeps a digest whose slot already ran from posting again, and
// its next posting takes the new sections; a digest removed is no longer
// posted, one added waits for its first slot.
func TestReconfigureDoesNotRefire(t *testing.T) {
	t.Parallel()
	daily := digest.Digest{Schedule: "0 13 * * *", Channel: "default", Include: []string{digest.Checks}}
	other := digest.Digest{Schedule: "0 13 * * *", Channel: "default", Include: []string{digest.Jobs}}
	says := func(title string) func(context.Context, time.Time) (actions.Message, error) {
		return func(context.Context, time.Time) (actions.Message, error) {
			return actions.Message{Title: title, Summary: "1 " + title}, nil
		}
	}
	sections := []digest.Section{
		{Name: digest.Checks, Part: says("checks")},
		{Name: digest.Incidents, Part: says("open incidents")},
		{Name: digest.Jobs, Part: jobsSection},
	}
	dw := newWorld(t, []digest.Digest{daily, other}, sections, nil)
	dw.Clock.Advance(time.Hour) // Saturday 13:00 UTC
	if n := dw.Tick(); n != 2 {
		t.Fatalf("%d digests posted at 13:00, want 2", n)
	}
	dw.Clock.Advance(30 * time.Minute)

	daily.Include = []string{digest.Incidents}
	added := digest.Digest{Schedule: "0 14 * * *", Channel: "default"}
	if err := dw.digest.Reconfigure([]digest.Digest{daily, added}); err != nil {
		t.Fatal(err)
	}
	if err := dw.digest.Reconfigure([]digest.Digest{{Schedule: "at one", Channel: "default"}}); err == nil {
		t.Error("a digest whose schedule does not parse was taken")
	}
	if err := dw.digest.Reconfigure([]digest.Digest{daily, added}); err != nil {
		t.Fatal(err)
	}
	if n := dw.Tick(); n != 0 {
		t.Fatalf("%d digests posted again at the reload", n)
	}
	dw.Clock.Advance(30 * time.Minute) // 14:00: the added one
	if n := dw.Tick(); n != 1 {
		t.Fatalf("%d digests at 14:00, want the added one", n)
	}
	dw.Clock.Advance(23 * time.Hour) // Sunday 13:00: only the kept one
	if n := dw.Tick(); n != 1 {
		t.Fatalf("%d digests on Sunday 13:00, want the kept one only", n)
	}
	posts := dw.Chat.Posts()
	if len(posts) != 4 {
		t.Fatalf("%d posts, want 4", len(posts))
	}
	m := posts[3].Message
	if len(m.Fields) != 1 || m.Fields[0].Label != "open incidents" || !strings.Contains(m.Text, "Since Sat 21 Nov 13:00 UTC") {
		t.Errorf("the kept digest after the reload = %s", bot.Text(m))
	}
}

// refusingChat refuses every message, as a platform that is down does
// once the adapter's retries are spent.
type refusingChat struct{ actionstest.Chat }

func (*refusingChat) Post(context.Context, string, actions.Message) (actions.MessageRef, error) {
	return actions.MessageRef{}, errors.New("the platform is down")
}

// A digest that could not be posted is made up for: the next one covers
// the period since the last digest that was posted, not since the one
// that failed.
func TestADigestNotPostedIsCoveredByTheNext(t *testing.T) {
	t.Parallel()
	dw := newWorld(t, []digest.Digest{{Schedule: "0 9 * * *", TimeZone: "UTC", Channel: "default", Include: []string{digest.Runs}}}, nil, nil)
	dw.Clock.Advance(21 * time.Hour) // Saturday 12:00 → Sunday 09:00 UTC
	if n := dw.Tick(); n != 1 {
		t.Fatalf("%d jobs ran at Sunday 09:00, want the digest", n)
	}
	dw.Engine.AddChat(actionstest.Platform, &refusingChat{})
	dw.Clock.Advance(24 * time.Hour)
	if n := dw.Tick(); n != 1 {
		t.Fatalf("%d jobs ran at Monday 09:00, want the digest", n)
	}
	dw.Engine.AddChat(actionstest.Platform, dw.Chat)
	dw.Clock.Advance(24 * time.Hour)
	if n := dw.Tick(); n != 1 {
		t.Fatalf("%d jobs ran at Tuesday 09:00, want the digest", n)
	}
	posts := dw.Chat.Posts()
	if len(posts) != 2 {
		t.Fatalf("%d digests posted, want Sunday's and Tuesday's", len(posts))
	}
	if m := posts[1].Message; !strings.Contains(m.Text, "Since Sun 22 Nov 09:00 UTC") {
		t.Errorf("Tuesday's digest does not cover Monday's, which was not posted: %s", bot.Text(m))
	}
}

// Two digests to one channel and one to a channel whose name is that
// channel's with "-2" (a valid channel name) are three jobs: each is
// posted at its time to its channel, none replaces another.
func TestSecondDigestOnAChannelIsNotAnotherChannels(t *testing.T) {
	t.Parallel()
	dw := &world{}
	dw.World = actionstest.New(t, actionstest.Options{
		Channels: actions.Channels{"ci": {actionstest.Platform: "C0CI"}, "ci-2": {actionstest.Platform: "C0CI2"}},
		Setup: func(w *actionstest.World) {
			h, err := w.Engine.Module(digest.Name, digest.Buckets...)
			if err != nil {
				t.Fatal(err)
			}
			if dw.digest, err = digest.New(h, []digest.Digest{
				{Schedule: "0 13 * * *", Channel: "ci"},
				{Schedule: "0 14 * * *", Channel: "ci"},
				{Schedule: "0 15 * * *", Channel: "ci-2"},
			}, nil, nil); err != nil {
				t.Fatal(err)
			}
		},
	})
	var to []string
	for range 3 { // Saturday 13:00, 14:00 and 15:00 UTC
		dw.Clock.Advance(time.Hour)
		dw.Tick()
	}
	for _, p := range dw.Chat.Posts() {
		to = append(to, p.To)
	}
	if got := strings.Join(to, " "); got != "C0CI C0CI C0CI2" {
		t.Errorf("digests posted to %q, want ci's two and ci-2's one", got)
	}
}

// The second digest to a channel was known as CHANNEL-2 before: when no
// digest of this config goes to a channel of that name, its last posting
// is still found there, and its next digest covers the time since.
func TestSecondDigestKeepsItsLastPostingFromTheOldName(t *testing.T) {
	t.Parallel()
	digests := []digest.Digest{
		{Schedule: "0 13 * * *", Channel: "default", Include: []string{digest.Runs}},
		{Schedule: "0 14 * * *", Channel: "default", Include: []string{digest.Runs}},
	}
	dw := newWorld(t, digests, nil, nil)
	ctx := context.Background()
	store, err := dw.DB.ModuleStore(digest.Name, digest.Buckets)
	if err != nil {
		t.Fatal(err)
	}
	posted := dw.Clock.Now().Add(-3 * 24 * time.Hour) // Wednesday 12:00 UTC
	if err := store.Update(ctx, func(tx actions.Tx) error {
		v, _ := posted.MarshalText()
		return tx.Bucket("last").Put([]byte("default-2"), v)
	}); err != nil {
		t.Fatal(err)
	}
	dw.Clock.Advance(2 * time.Hour) // Saturday 14:00 UTC
	if n := dw.Tick(); n != 2 {
		t.Fatalf("%d digests posted by 14:00, want 2", n)
	}
	posts := dw.Chat.Posts()
	if len(posts) != 2 {
		t.Fatalf("%d posts, want 2", len(posts))
	}
	if m := posts[1].Message; !strings.Contains(m.Text, "Since Wed 18 Nov 12:00 UTC") {
		t.Errorf("the second digest does not start from its last posting under its old name: %s", bot.Text(m))
	}
}
