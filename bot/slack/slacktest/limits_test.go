package slacktest_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/infrabot/infrabot/bot/slack/slacktest"
)

func text(s string) map[string]any { return map[string]any{"type": "mrkdwn", "text": s} }

func TestCheckMessageKnowsSlacksLimits(t *testing.T) {
	t.Parallel()
	section := func(s string) map[string]any { return map[string]any{"type": "section", "text": text(s)} }
	many := func(n int, b map[string]any) []map[string]any {
		out := make([]map[string]any, n)
		for i := range out {
			out[i] = b
		}
		return out
	}
	fields := func(n, size int) map[string]any {
		var fs []any
		for range n {
			fs = append(fs, text(strings.Repeat("f", size)))
		}
		return map[string]any{"type": "section", "fields": fs}
	}
	button := func(label, value string) map[string]any {
		return map[string]any{"type": "actions", "elements": []any{map[string]any{"type": "button", "text": map[string]any{"type": "plain_text", "text": label}, "value": value, "action_id": "a"}}}
	}
	tests := []struct {
		name   string
		text   string
		blocks []map[string]any
		code   string
	}{
		{"at every limit", strings.Repeat("é", 40000), append(many(45, section(strings.Repeat("é", 3000))),
			map[string]any{"type": "header", "text": map[string]any{"type": "plain_text", "text": strings.Repeat("h", 150)}},
			fields(10, 2000), button(strings.Repeat("b", 75), strings.Repeat("v", 2000)),
			map[string]any{"type": "context", "elements": []any{text(strings.Repeat("c", 3000))}}), ""},
		{"51 blocks", "x", many(51, section("x")), "invalid_blocks"},
		{"section text of 3001", "x", many(1, section(strings.Repeat("é", 3001))), "invalid_blocks"},
		{"empty section", "x", many(1, map[string]any{"type": "section"}), "invalid_blocks"},
		{"11 fields", "x", many(1, fields(11, 10)), "invalid_blocks"},
		{"field of 2001", "x", many(1, fields(1, 2001)), "invalid_blocks"},
		{"header of 151", "x", many(1, map[string]any{"type": "header", "text": map[string]any{"type": "plain_text", "text": strings.Repeat("h", 151)}}), "invalid_blocks"},
		{"context text of 3001", "x", many(1, map[string]any{"type": "context", "elements": []any{text(strings.Repeat("c", 3001))}}), "invalid_blocks"},
		{"button label of 76", "x", many(1, button(strings.Repeat("b", 76), "v")), "invalid_blocks"},
		{"button value of 2001", "x", many(1, button("b", strings.Repeat("v", 2001))), "invalid_blocks"},
		{"text of 40001", strings.Repeat("t", 40001), nil, "msg_too_long"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, err := slacktest.CheckMessage(tc.text, tc.blocks)
			if code != tc.code || (err != nil) != (tc.code != "") {
				t.Errorf("CheckMessage = %q, %v; want %q", code, err, tc.code)
			}
		})
	}
}

// The fake refuses a message over Slack's limits as Slack does, and keeps
// nothing of it.
func TestFakeRefusesMessagesOverLimits(t *testing.T) {
	t.Parallel()
	s := slacktest.NewServer(t, "xoxb-test")
	post := func(blocks string) map[string]any {
		t.Helper()
		form := url.Values{"token": {"xoxb-test"}, "channel": {"C1"}, "text": {"hi"}, "blocks": {blocks}}
		resp, err := http.PostForm(s.APIURL()+"chat.postMessage", form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	long := `[{"type":"section","text":{"type":"mrkdwn","text":"` + strings.Repeat("x", 3001) + `"}}]`
	if out := post(long); out["ok"] != false || out["error"] != "invalid_blocks" {
		t.Errorf("a section of 3001 characters: %v", out)
	}
	if got := s.Messages("C1"); len(got) != 0 {
		t.Errorf("the refused message was kept: %+v", got)
	}
	if calls := s.Calls(); len(calls) != 1 || calls[0].Refused == nil {
		t.Errorf("the call does not say why it was refused: %+v", calls)
	}
	if out := post(`[{"type":"section","text":{"type":"mrkdwn","text":"fine"}}]`); out["ok"] != true {
		t.Errorf("a message within the limits: %v", out)
	}
}
