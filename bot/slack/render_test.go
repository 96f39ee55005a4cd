package slack_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/actionstest"
	islack "github.com/infrabot/infrabot/bot/slack"
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
		{"plain_reply", actions.Message{Summary: "staging is locked by bob <for> the db & upgrade", Tone: actions.ToneSuccess}},
		{"refusal", actions.Message{Summary: "bob may not lock production", Text: "bob may lock only on staging, not on production", Tone: actions.ToneDanger}},
		{"mentions_links", mentionsAndLinks},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			actionstest.Golden(t, tc.name, actionstest.JSON(t, islack.Render(tc.m)), *update)
		})
	}
}

// mentionsAndLinks is a squad notice: bob is mapped on Slack, carol is
// not, and one link is not a web URL.
var mentionsAndLinks = actions.Message{
	Summary: "periodic-tripleo-ci-standalone failed <3 times>",
	Text:    "periodic-tripleo-ci-standalone is failing since 09:12 (was green 3d)",
	Mentions: []actions.Mention{
		{Person: "bob", ID: "U02BOB"},
		{Person: "carol"},
		{Person: "mallory", ID: "<!channel>"},
	},
	Links: []actions.Link{
		{Label: "build log", URL: "https://logs.example.org/build?id=1&attempt=2"},
		{Label: "not a <link>", URL: "javascript:alert(1)"},
	},
	Tone: actions.ToneDanger,
}

func TestMentionsAreNeverEscapedAwayAndNeverForged(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.Encode(islack.Render(mentionsAndLinks))
	text := buf.String()
	for _, want := range []string{"<@U02BOB> carol mallory", "<https://logs.example.org/build?id=1&amp;attempt=2|build log>", "not a &lt;link&gt;: javascript:alert(1)"} {
		if !strings.Contains(text, want) {
			t.Errorf("rendering lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "<!channel>") {
		t.Error("a mention id that is not a Slack user id reached the message")
	}
}

func TestDecidedRequestHasNoButtons(t *testing.T) {
	t.Parallel()
	b, _ := json.Marshal(islack.Render(actions.Message{Title: "request 1", Summary: "request 1 — Approved by alice", Text: "Approved by alice."}))
	if strings.Contains(string(b), `"actions"`) {
		t.Errorf("a message without buttons has an actions block: %s", b)
	}
}

// TestBackticksInOutputDoNotEndItsCodeBlock: a line of output with ``` (or
// a longer run of backticks) in it would close Slack's code block early
// and show the rest as mrkdwn; the run is broken up, and each code block
// has just its own two fences.
func TestBackticksInOutputDoNotEndItsCodeBlock(t *testing.T) {
	t.Parallel()
	lines := []string{"echo ```", "*rm -rf* _now_", "````", "`````x``````", "``ok`` `fine`"}
	var code []string
	for _, b := range blocksOf(t, actions.Message{Summary: "deploy", Lines: lines}) {
		if s, _ := b["text"].(map[string]any)["text"].(string); strings.HasPrefix(s, "```") {
			code = append(code, s)
		}
	}
	if len(code) != 1 {
		t.Fatalf("%d code blocks, want 1: %q", len(code), code)
	}
	if n := strings.Count(code[0], "```"); n != 2 {
		t.Errorf("the code block has %d fences, want 2:\n%s", n, code[0])
	}
	if shown := strings.ReplaceAll(code[0], "\u200b", ""); shown != "```\n"+strings.Join(lines, "\n")+"\n```" {
		t.Errorf("the code block shows other than the lines:\n%s", shown)
	}
}
