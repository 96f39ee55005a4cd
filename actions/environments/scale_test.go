package environments_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/actionstest"
	"github.com/infrabot/infrabot/actions/environments"
	"github.com/infrabot/infrabot/bot/discord"
	"github.com/infrabot/infrabot/bot/discord/discordtest"
	islack "github.com/infrabot/infrabot/bot/slack"
	"github.com/infrabot/infrabot/bot/slack/slacktest"
	"github.com/infrabot/infrabot/simulator"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// progressPattern reads a group's counts at the end of a run's summary.
var progressPattern = regexp.MustCompile(`^(created|deleted) (\d+) of (\d+)(?:, (\d+) (?:building|deleting))?(?:, (\d+) failed)?(?:, (\d+) (?:waiting|not started))?$`)

// counts is where a group's steps are, as a progress message says.
type counts struct{ done, total, running, failed, waiting int }

func readCounts(t *testing.T, progress string) counts {
	t.Helper()
	m := progressPattern.FindStringSubmatch(progress)
	if m == nil {
		t.Fatalf("progress %q does not read as counts", progress)
	}
	n := func(s string) int { i, _ := strconv.Atoi(s); return i }
	return counts{done: n(m[2]), total: n(m[3]), running: n(m[4]), failed: n(m[5]), waiting: n(m[6])}
}

// withinPlatformLimits renders m for Slack and for Discord and checks
// each against the platform's limits, as the platform would before
// accepting it.
func withinPlatformLimits(m actions.Message) error {
	var blocks []map[string]any
	if err := roundTrip(islack.Render(m), &blocks); err != nil {
		return err
	}
	if err := slacktest.CheckBlocks(blocks); err != nil {
		return fmt.Errorf("slack: %w", err)
	}
	var body map[string]any
	if err := roundTrip(discord.Render(m), &body); err != nil {
		return err
	}
	if err := discordtest.CheckMessage(body); err != nil {
		return fmt.Errorf("discord: %w", err)
	}
	return nil
}

// roundTrip decodes into out what v encodes to, as a platform receives it.
func roundTrip(v, out any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

// TestTwoHundredServersInOneMessage provisions 200 servers on the
// simulator, 12 of which go to ERROR, then tears the rest down: every
// state of the run's one progress message counts where the servers are,
// names the failures with their fault, stays short, and renders within
// Slack's and Discord's limits; the final message is a golden file.
func TestTwoHundredServersInOneMessage(t *testing.T) {
	t.Parallel()
	envs := []environments.Environment{{Name: "staging", Cloud: "sim", Parallel: 50, Servers: []environments.ServerDecl{
		{Name: "web", Count: 200, Flavor: "m1.tiny", Image: "cirros-0.6", Networks: []string{"private"}},
	}}}
	ew := newEnvWorld(t, simulator.Options{BuildDelay: 20 * time.Millisecond, DeleteDelay: 5 * time.Millisecond,
		Quotas: map[string]int{"instances": -1, "cores": -1, "ram": -1}}, envs)
	// staging-web-7 and staging-web-70 … -79: eleven servers; and one more.
	ew.sim.FailBuild("staging-web-7", "No valid host was found.")
	ew.sim.FailBuild("staging-web-123", "Build of instance aborted: disk on fire.")

	// The plan of 200 creates, a reply, fits too (Slack puts what does
	// not fit in the thread; Discord shows its end).
	if err := withinPlatformLimits(ew.As("carol", "plan staging").Message); err != nil {
		t.Errorf("the plan of 200 servers is over a platform's limits: %v", err)
	}
	id := ew.start("bob", "provision staging")
	r := ew.finished(id, actions.Failed)
	final := checkProgress(t, ew, r, "created", 200)
	if c := readCounts(t, actionstest.Progress(final)); c != (counts{done: 188, total: 200, failed: 12}) {
		t.Errorf("final counts %+v, want 188 of 200 created and 12 failed", c)
	}
	text := final.Summary + "\n" + strings.Join(final.Lines, "\n")
	for _, want := range []string{
		"✗ create staging-web-7 — server staging-web-7 went to ERROR: No valid host was found. Deleted it again.",
		"✗ create staging-web-78 — server staging-web-78 went to ERROR: No valid host was found. Deleted it again.",
		"✗ create: 2 more failed, not named here",
		"12 of 200 servers could not be created (staging-web-7, staging-web-70, ", "and 2 more)",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the final message lacks %q:\n%s", want, text)
		}
	}
	golden(t, "provision_200", final)

	// What is left goes in one approved teardown, counted the same way.
	id = ew.start("bob", "teardown staging")
	ew.As("alice", "approve "+strconv.FormatInt(id, 10))
	r = ew.finished(id, actions.Succeeded)
	final = checkProgress(t, ew, r, "deleted", 188)
	if c := readCounts(t, actionstest.Progress(final)); c != (counts{done: 188, total: 188}) {
		t.Errorf("teardown's final counts %+v, want 188 of 188 deleted", c)
	}
	if len(ew.owned("staging")) != 0 {
		t.Error("servers left after the teardown")
	}
	// Every other message too — the approval request shows a plan of 188
	// deletes — is within the platforms' limits.
	for _, p := range ew.Chat.Posts() {
		for i, m := range p.Versions {
			if err := withinPlatformLimits(m); err != nil {
				t.Errorf("state %d of message %q is over a platform's limits: %v", i+1, p.Message.Summary, err)
			}
		}
	}
}

// checkProgress checks every state of run r's progress message: within
// the platforms' limits, a few lines whatever the number of servers,
// counts that add up to total and never go back. It returns the last.
func checkProgress(t *testing.T, ew *envWorld, r *actions.Run, verb string, total int) actions.Message {
	t.Helper()
	if r.Progress == nil {
		t.Fatalf("run %d has no progress message", r.ID)
	}
	var versions []actions.Message
	for _, p := range ew.Chat.Posts() {
		if p.Ref == *r.Progress {
			versions = p.Versions
		}
	}
	// Servers start, change state and end all through the run: many
	// updates, though events that come together are shown together.
	if len(versions) < 10 {
		t.Fatalf("%d states of the progress message for %d servers", len(versions), total)
	}
	var last counts
	for i, m := range versions {
		if err := withinPlatformLimits(m); err != nil {
			t.Fatalf("state %d of %d of the progress message is over a platform's limits: %v\n%s", i+1, len(versions), err, m.Summary)
		}
		if len(m.Lines) > 12 {
			t.Fatalf("state %d shows %d lines for %d servers:\n%s", i+1, len(m.Lines), total, strings.Join(m.Lines, "\n"))
		}
		counted := actionstest.Progress(m)
		if counted == "" {
			continue // posted before the group was declared
		}
		if !strings.HasPrefix(counted, verb+" ") {
			t.Fatalf("state %d: counts %q, want %s …", i+1, counted, verb)
		}
		c := readCounts(t, counted)
		if c.total != total || c.done+c.running+c.failed+c.waiting != total {
			t.Fatalf("state %d: counts %q do not add up to %d", i+1, counted, total)
		}
		if c.done < last.done || c.failed < last.failed {
			t.Fatalf("state %d: counts went back from %+v to %+v", i+1, last, c)
		}
		last = c
	}
	return versions[len(versions)-1]
}

// elapsedPattern matches the times a message shows (0ms, 12s, 3m05s).
var elapsedPattern = regexp.MustCompile(`\b(\d+m\d{2}s|\d+ms|\d+s)\b`)

// golden compares m, its times masked, with testdata/NAME.golden, the
// neutral message every platform renders (bot/slack and bot/discord
// render this file in their own golden tests).
func golden(t *testing.T, name string, m actions.Message) {
	t.Helper()
	actionstest.Golden(t, name, elapsedPattern.ReplaceAll(actionstest.JSON(t, m), []byte("1s")), *update)
}
