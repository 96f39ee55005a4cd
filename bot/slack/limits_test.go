package slack_test

import (
	"encoding/json"
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

// TestEveryMessageFitsSlack renders the worst a run's progress can be, at
// every stage of 200 servers, and messages with far too much of
// everything: each is within Slack's limits.
func TestEveryMessageFitsSlack(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 21, 13, 0, 0, 0, time.UTC)
	for done := 0; done <= 200; done += 5 {
		m := actions.RunMessage(actionstest.WorstRun(done), at)
		if err := slacktest.CheckBlocks(blocksOf(t, m)); err != nil {
			t.Fatalf("run with %d of 200 servers failed: over Slack's limits: %v", done, err)
		}
	}
	for i, m := range actionstest.Overfull() {
		if err := slacktest.CheckBlocks(blocksOf(t, m)); err != nil {
			t.Fatalf("overfull message %d: over Slack's limits: %v", i, err)
		}
	}
}
