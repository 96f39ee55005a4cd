package discord_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/actionstest"
	"github.com/infrabot/infrabot/bot/discord"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestRenderGolden(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	run := &actions.Run{
		ID: 17, Action: "provision", Env: "staging", Command: "provision staging", Person: "bob",
		State: actions.Running, Created: at, Started: at,
		Plan: actions.Plan{Summary: "create 2, keep 1"},
		Steps: []actions.Step{
			{Name: "create staging-web-1", State: actions.Succeeded, Detail: "ACTIVE", Started: at, Finished: at.Add(12 * time.Second)},
			{Name: "create staging-db-1", State: actions.Running, Detail: "BUILD", Started: at},
		},
	}
	request := &actions.Run{
		ID: 42, Action: "teardown", Env: "staging", Command: "teardown staging", Person: "bob",
		State: actions.AwaitingApproval, Created: at,
		Plan:     actions.Plan{Summary: "delete 2 servers", Lines: []string{"- staging-web-1", "- staging-db-1"}},
		Approval: &actions.Approval{State: actions.ApprovalPending, Approvers: []string{"operator", "admin"}, PlanHash: "3f2a9c", Expires: at.Add(15 * time.Minute)},
	}
	approved := *request
	a := *request.Approval
	a.State, a.DecidedBy, a.DecidedAt = actions.ApprovalApproved, "alice", at.Add(time.Minute)
	approved.Approval = &a
	tests := []struct {
		name string
		m    actions.Message
	}{
		{"run_progress", actions.RunMessage(run, at.Add(20*time.Second))},
		{"approval_request", actions.ApprovalMessage(request, at)},
		{"approval_approved", actions.ApprovalMessage(&approved, at.Add(time.Minute))},
		{"notice", actions.Message{Summary: "job promote-images broke", Text: "promote-images failed on master", Tone: actions.ToneDanger,
			Mentions: []actions.Mention{{Person: "bob", ID: "402000000000000002"}, {Person: "dave_ops"}},
			Links:    []actions.Link{{Label: "build log", URL: "https://logs.example/42"}, {Label: "not a link", URL: "javascript:alert(1)"}}}},
		{"refusal", actions.Message{Summary: "bob may not lock production", Text: "bob may lock only on staging, not on production", Tone: actions.ToneDanger}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			enc.SetIndent("", "  ")
			if err := enc.Encode(discord.Render(tc.m)); err != nil {
				t.Fatal(err)
			}
			got := buf.Bytes()
			path := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if string(got) != string(want) {
				t.Errorf("the message differs from %s (run go test -update if the change is meant):\n%s", path, got)
			}
		})
	}
}

// Lines too many for an embed are cut, and the description says how many
// are not shown: output shows its last lines, a list (what matters most
// first) its first; nothing exceeds Discord's limits.
func TestLongLinesFitAnEmbed(t *testing.T) {
	t.Parallel()
	lines := []string{"the first line"}
	for range 2000 {
		lines = append(lines, strings.Repeat("x", 60))
	}
	lines = append(lines, "the last line")
	for _, c := range []struct {
		name        string
		tail        bool
		shown, note string
		notShown    string
	}{
		{"output", true, "the last line", "earlier lines not shown", "the first line"},
		{"list", false, "the first line", "more lines not shown", "the last line"},
	} {
		b, _ := json.Marshal(discord.Render(actions.Message{Title: strings.Repeat("t", 300), Summary: "s", Lines: lines, Tail: c.tail}))
		var r struct {
			Embeds []struct{ Title, Description string }
		}
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatal(err)
		}
		e := r.Embeds[0]
		if len(e.Description) > 4096 || len(e.Title) > 256 {
			t.Errorf("%s: description %d bytes, title %d: over Discord's limits", c.name, len(e.Description), len(e.Title))
		}
		if !strings.Contains(e.Description, c.shown) || !strings.Contains(e.Description, c.note) || strings.Contains(e.Description, c.notShown) {
			t.Errorf("%s: the description should show %q, not %q, and say %q:\n%s", c.name, c.shown, c.notShown, c.note, e.Description)
		}
	}
}

// A command's output is shown in a code block; a run of backticks in it,
// of any length, cannot close that block and turn the lines after it
// into live markdown.
func TestOutputCannotCloseItsCodeBlock(t *testing.T) {
	t.Parallel()
	for _, run := range []int{3, 4, 5, 7} {
		fence := strings.Repeat("`", run)
		d := bodyOf(t, actions.Message{Summary: "run 1", Lines: []string{"out: " + fence, "**not code** [x](https://evil.example/)", fence}})["embeds"].([]any)[0].(map[string]any)["description"].(string)
		if n := strings.Count(d, "```"); n != 2 {
			t.Errorf("a run of %d backticks: the description has %d fences, want only the code block's 2:\n%s", run, n, d)
		}
	}
}

// Only a URL bot.SafeURL passes is a link, as on Slack: a ")" or a space
// in a build's log URL would end the link early and leave the rest live
// markdown. Such a URL is shown as text, its markdown escaped.
func TestOnlySafeURLsAreLinks(t *testing.T) {
	t.Parallel()
	d := bodyOf(t, actions.Message{Summary: "job broken", Links: []actions.Link{
		{Label: "logs of job", URL: "https://logs.example.org/1) [sign in again](https://evil.example/x"},
		{Label: "console", URL: "https://ci.example.org/job 7"},
	}})["embeds"].([]any)[0].(map[string]any)["description"].(string)
	for _, bad := range []string{"[sign in again](", "[logs of job](", "[console]("} {
		if strings.Contains(d, bad) {
			t.Errorf("the description has a link %q…:\n%s", bad, d)
		}
	}
	if !strings.Contains(d, "logs of job") || !strings.Contains(d, "https://ci.example.org/job 7") {
		t.Errorf("an unsafe URL should be shown as text with its label:\n%s", d)
	}
}

// Text infrabot did not write — a lock reason, a field's value, a line of
// output — makes no masked link in the bot's embed, even when it closes
// the code span the engine wraps a command in: masked links come only
// from the message's Links.
func TestUserTextMakesNoMaskedLink(t *testing.T) {
	t.Parallel()
	w := actionstest.New(t, actionstest.Options{})
	r := w.As("bob", "lock staging \"x` [infrabot: re-authorise here](https://evil.example/login) `\"")
	w.Expect(r, false, "staging is locked by bob")
	for i, m := range []actions.Message{
		r.Message,
		{Summary: "staging", Fields: []actions.Field{{Label: "lock", Value: "by bob: [re-authorise](https://evil.example/login)"}}},
		// A "[" in the text and "](" in the output: one link across both.
		{Summary: "run 3 failed: [see", Lines: []string{"here](https://evil.example/login)"}},
		{Text: "``` [re-authorise](https://evil.example/login)", Links: []actions.Link{{Label: "build log", URL: "https://logs.example/42"}}},
	} {
		b, err := json.Marshal(discord.Render(m))
		if err != nil {
			t.Fatal(err)
		}
		if s := string(b); strings.Contains(s, "](https://evil.example") {
			t.Errorf("message %d: user text is a masked link:\n%s", i, s)
		}
		if len(m.Links) > 0 && !strings.Contains(string(b), "[build log](https://logs.example/42)") {
			t.Errorf("message %d: infrabot's own link is gone:\n%s", i, b)
		}
	}
}
