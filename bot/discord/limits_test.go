package discord_test

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
	"github.com/infrabot/infrabot/bot/discord"
	"github.com/infrabot/infrabot/bot/discord/discordtest"
)

// bodyOf renders m and decodes it as Discord receives it.
func bodyOf(t *testing.T, m actions.Message) map[string]any {
	t.Helper()
	b, err := json.Marshal(discord.Render(m))
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatal(err)
	}
	return body
}

// TestFinalMessageOfTwoHundredServers renders the final message of the
// 200-server provision that actions/environments runs on the simulator
// (its golden file there is the neutral message) for Discord: within
// Discord's limits, and as in testdata/provision_200.golden.
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
	if err := discordtest.CheckMessage(bodyOf(t, m)); err != nil {
		t.Fatalf("over Discord's limits: %v", err)
	}
	got := actionstest.JSON(t, discord.Render(m))
	text := string(got)
	for _, want := range []string{"created 188 of 200, 12 failed", "✗ create staging-web-7 — server staging-web-7 went to ERROR: No valid host was found.", "2 more failed"} {
		if !strings.Contains(text, want) {
			t.Errorf("the message lacks %q", want)
		}
	}
	actionstest.Golden(t, "provision_200", got, *update)
}

// TestEveryMessageFitsDiscord renders the worst a run's progress can be, at
// every stage of 200 servers, and messages with far too much of
// everything: each is within Discord's limits.
func TestEveryMessageFitsDiscord(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 21, 13, 0, 0, 0, time.UTC)
	for done := 0; done <= 200; done += 5 {
		m := actions.RunMessage(actionstest.WorstRun(done), at)
		if err := discordtest.CheckMessage(bodyOf(t, m)); err != nil {
			t.Fatalf("run with %d of 200 servers failed: over Discord's limits: %v", done, err)
		}
	}
	for i, m := range actionstest.Overfull() {
		if err := discordtest.CheckMessage(bodyOf(t, m)); err != nil {
			t.Fatalf("overfull message %d: over Discord's limits: %v", i, err)
		}
	}
}

// A message that mentions more people than fit — Discord takes 100 ids in
// allowed_mentions.users and 2,000 characters of content — mentions those
// that fit, says how many more there are, and lists in allowed_mentions
// only the people its content mentions.
func TestMentionsOfManyPeopleFitDiscord(t *testing.T) {
	t.Parallel()
	for _, n := range []int{99, 100, 101, 120, 700} {
		var ms []actions.Mention
		for i := range n {
			ms = append(ms, actions.Mention{Person: fmt.Sprintf("p%d", i), ID: fmt.Sprintf("4%017d", i)})
		}
		ms = append(ms, actions.Mention{Person: "dave"}) // not on Discord
		body := bodyOf(t, actions.Message{Summary: "CI job broken", Mentions: ms})
		if err := discordtest.CheckMessage(body); err != nil {
			t.Errorf("%d mentions: over Discord's limits: %v", n, err)
			continue
		}
		content := body["content"].(string)
		users, _ := body["allowed_mentions"].(map[string]any)["users"].([]any)
		for _, u := range users {
			if !strings.Contains(content, "<@"+u.(string)+">") {
				t.Errorf("%d mentions: allowed_mentions lists %s, which the content does not mention", n, u)
			}
		}
		shown := strings.Count(content, "<@")
		if shown != len(users) {
			t.Errorf("%d mentions: the content mentions %d, allowed_mentions lists %d", n, shown, len(users))
		}
		if rest := len(ms) - shown - strings.Count(content, "dave"); rest == 0 {
			if strings.Contains(content, "more") {
				t.Errorf("%d mentions: all shown, yet the content says there are more: %q", n, content)
			}
		} else if want := fmt.Sprintf(" and %d more", rest); !strings.HasSuffix(content, want) {
			t.Errorf("%d mentions: %d not shown, and the content ends %q, not %q", n, rest, content[len(content)-30:], want)
		}
	}
}
