package digest_test

import (
	"context"
	"errors"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/actionstest"
	"github.com/infrabot/infrabot/actions/digest"
	"github.com/infrabot/infrabot/bot"
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

// Sections as other modules would write them: the wiring hands them over.
func checksSection(ctx context.Context, since time.Time) (actions.Message, error) {
	return actions.Message{
		Title: "checks", Summary: "5 up, 1 down", Tone: actions.ToneDanger,
		Lines: []string{"✗ logserver-http  down since 10:42 (1h18m) · 96.1% up in 24h", "✓ promoter-ssh     up · 100% in 24h"},
	}, nil
}

func incidentsSection(ctx context.Context, since time.Time) (actions.Message, error) {
	return actions.Message{
		Title: "open incidents", Summary: "1 open", Tone: actions.ToneWarning,
		Lines: []string{"#9 logserver-http down — 1h18m old, acknowledged by bob"},
	}, nil
}

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

func allSections() []digest.Section {
	return []digest.Section{
		{Name: digest.Checks, Part: checksSection},
		{Name: digest.Incidents, Part: incidentsSection},
		{Name: digest.Jobs, Part: jobsSection},
	}
}

// A digest rendered from a known state says what the state says, on
// every platform.
func TestDigestGolden(t *testing.T) {
	t.Parallel()
	dw := newWorld(t, nil, allSections(), servers{"staging": {3, 3}, "production": {1, 2}})
	dw.state(t)
	since := dw.Clock.Now().Add(-24 * time.Hour)
	prague, err := time.LoadLocation("Europe/Prague")
	if err != nil {
		t.Fatal(err)
	}
	m := dw.digest.Compose(context.Background(), nil, since, prague)

	actionstest.Golden(t, "digest.txt", []byte(bot.Text(m)), *update)
	actionstest.Golden(t, "digest.slack.json", actionstest.JSON(t, islack.Render(m)), *update)

	text := bot.Text(m)
	for _, want := range []string{
		"Since Fri 20 Nov 13:00 CET.",
		"production   1/2 servers, not as declared · 1 awaiting approval",
		"staging      3/3 servers · locked by bob: db upgrade · run 3 (provision staging) by bob running",
		"logserver-http  down since 10:42",
		"acknowledged by bob",
		"https://logs.rdoproject.org/42/",
		"runs: 3 (1 awaiting-approval, 1 failed, 1 running)", // not the run of two days ago
	} {
		if !strings.Contains(text, want) {
			t.Errorf("digest lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "alice") {
		t.Errorf("the digest shows a run from before since:\n%s", text)
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
