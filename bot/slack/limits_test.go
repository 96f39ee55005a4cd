package slack_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/actionstest"
	islack "github.com/infrabot/infrabot/bot/slack"
	"github.com/infrabot/infrabot/bot/slack/slacktest"
)

// blocksOf renders m and decodes its blocks as Slack receives them.
func blocksOf(t *testing.T, m actions.Message) []map[string]any {
	t.Helper()
	b, err := json.Marshal(islack.Render(m))
	if err != nil {
		t.Fatal(err)
	}
	var blocks []map[string]any
	if err := json.Unmarshal(b, &blocks); err != nil {
		t.Fatal(err)
	}
	return blocks
}

// TestFinalMessageOfTwoHundredServers renders the final message of the
// 200-server provision that actions/environments runs on the simulator
// (its golden file there is the neutral message) for Slack: within
// Slack's limits, and as in testdata/provision_200.golden.
func TestFinalMessageOfTwoHundredServers(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join("..", "..", "actions", "environments", "testdata", "provision_200.golden"))
	if err != nil {
		t.Fatal(err)
	}
	var m actions.Message
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	blocks := blocksOf(t, m)
	if err := slacktest.CheckBlocks(blocks); err != nil {
		t.Fatalf("over Slack's limits: %v", err)
	}
	got := actionstest.JSON(t, islack.Render(m))
	text := string(got)
	for _, want := range []string{"created 188 of 200, 12 failed", "✗ create staging-web-7 — server staging-web-7 went to ERROR: No valid host was found.", "2 more failed"} {
		if !strings.Contains(text, want) {
			t.Errorf("the message lacks %q", want)
		}
	}
	actionstest.Golden(t, "provision_200", got, *update)
}

// worstRun is a provision of 200 servers with everything as long as it
// gets, once done of them have ended: long names, each server failed with
// a long fault full of characters Slack escapes, 30 output lines of 4 KiB,
// and a long error.
func worstRun(done int) *actions.Run {
	at := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	long := strings.Repeat("<&>", 400)
	r := &actions.Run{
		ID: 99, Command: "provision " + strings.Repeat("e", 200), Person: "bob", State: actions.Running, Created: at, Started: at,
		Plan:   actions.Plan{Summary: "create 200, keep 0, delete 0"},
		Groups: []actions.StepGroup{{Name: "create", Total: 200, Done: "created", Running: "building"}},
	}
	for i := range 200 {
		s := actions.Step{Name: fmt.Sprintf("create %s-%d", strings.Repeat("n", 60), i), Group: "create", State: actions.Running, Detail: "BUILD " + long, Started: at}
		if i < done {
			s.State, s.Detail, s.Finished = actions.Failed, "went to ERROR: "+long, at.Add(time.Minute)
		}
		r.Steps = append(r.Steps, s)
	}
	for range 30 {
		r.Output = append(r.Output, strings.Repeat("<&>", 1365))
	}
	r.OutputOmitted = 5000
	if done == 200 {
		r.State, r.Finished, r.Error = actions.Failed, at.Add(time.Hour), strings.Repeat("200 of 200 servers could not be created <&> ", 200)
	}
	return r
}

// TestEveryMessageFitsSlack renders the worst a run's progress can be, at
// every stage of 200 servers, and messages with far too much of
// everything: each is within Slack's limits.
func TestEveryMessageFitsSlack(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 21, 13, 0, 0, 0, time.UTC)
	for done := 0; done <= 200; done += 5 {
		m := actions.RunMessage(worstRun(done), at)
		if err := slacktest.CheckBlocks(blocksOf(t, m)); err != nil {
			t.Fatalf("run with %d of 200 servers failed: over Slack's limits: %v", done, err)
		}
	}
	many := actions.Message{
		Title: strings.Repeat("t", 500), Summary: strings.Repeat("<s>", 3000), Text: strings.Repeat("<x>", 3000),
		Footer: strings.Repeat("<f>", 3000), Tone: actions.ToneDanger,
	}
	for i := range 700 {
		many.Fields = append(many.Fields, actions.Field{Label: fmt.Sprint("label ", i), Value: strings.Repeat("<v>", 1000)})
		many.Lines = append(many.Lines, strings.Repeat("<l>", 2000))
		many.Buttons = append(many.Buttons, actions.Button{Label: strings.Repeat("b", 100), Command: "approve " + strings.Repeat("9", 3000)})
		many.Links = append(many.Links, actions.Link{Label: "log", URL: "https://logs.example.org/" + strings.Repeat("p", 100)})
		many.Mentions = append(many.Mentions, actions.Mention{Person: "bob", ID: "U02BOB"})
	}
	if err := slacktest.CheckBlocks(blocksOf(t, many)); err != nil {
		t.Fatalf("a message with too much of everything: over Slack's limits: %v", err)
	}
	summaryOnly := actions.Message{Title: "run 1", Summary: strings.Repeat("<s>", 3000), Tone: actions.ToneWarning}
	if err := slacktest.CheckBlocks(blocksOf(t, summaryOnly)); err != nil {
		t.Fatalf("a long summary under a title: over Slack's limits: %v", err)
	}
}
