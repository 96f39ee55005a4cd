package bot_test

import (
	"flag"
	"testing"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/actionstest"
	"github.com/infrabot/infrabot/bot"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestTextGolden(t *testing.T) {
	tests := []struct {
		name string
		m    actions.Message
	}{
		{"mentions_links", actions.Message{
			Summary:  "periodic-tripleo-ci-standalone failed",
			Title:    "CI: periodic-tripleo-ci-standalone broke",
			Text:     "failing since 09:12 (was green 3d)",
			Mentions: []actions.Mention{{Person: "bob", ID: "U02BOB"}, {Person: "carol"}},
			Fields:   []actions.Field{{Label: "pipeline", Value: "openstack-periodic-integration-main"}},
			Links:    []actions.Link{{Label: "build log", URL: "https://logs.example.org/build?id=1"}},
		}},
		{"mentions_only", actions.Message{Summary: "incident 3 needs you", Mentions: []actions.Mention{{Person: "alice"}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			actionstest.Golden(t, tc.name, []byte(bot.Text(tc.m)), *update)
		})
	}
}

func TestSafeURL(t *testing.T) {
	for u, want := range map[string]bool{
		"https://logs.example.org/a?b=1&c=2": true,
		"http://127.0.0.1:8080/job/x/12/":    true,
		"javascript:alert(1)":                false,
		"https://x.org/a|b":                  false,
		"https://x.org/<@U1>":                false,
		"https://x.org/a b":                  false,
		"/relative/path":                     false,
		"ftp://files.example.org/":           false,
	} {
		if got := bot.SafeURL(u); got != want {
			t.Errorf("SafeURL(%q) = %v, want %v", u, got, want)
		}
	}
}
