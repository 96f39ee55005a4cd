package main_test

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/infrabot/infrabot/bot/slack/slacktest"
)

const (
	e2eBotToken      = "xoxb-e2e-local-token"
	e2eSigningSecret = "e2e-local-signing-secret"
)

// TestSlackStory runs the built `infrabot run` in Slack's HTTP mode against
// the fake Slack: slash commands and button clicks arrive signed, messages
// go out through the Web API, and the approval flow runs end to end.
func TestSlackStory(t *testing.T) {
	t.Parallel()
	s := startService(t, startSimulator(t), "")
	fake, slack := s.fake, s.slack

	if r := slack.Command(t, "U01ALICE", "C0INFRA", "provision staging"); r.Status != 200 {
		t.Fatalf("slash command answered %d %s", r.Status, r.Body)
	}
	fake.WaitFor(t, "provision succeeding", func() bool { return hasMessage(fake, "run 1 `provision staging` by alice: succeeded") })

	slack.Command(t, "U02BOB", "C0INFRA", "teardown staging")
	var request slacktest.Message
	fake.WaitFor(t, "the approval request", func() bool {
		m, ok := findMessage(fake, "request 2")
		request = m
		return ok
	})
	slack.Click(t, "U02BOB", request, "Approve")
	fake.WaitFor(t, "bob's own approval refused, to him only", func() bool {
		for _, m := range fake.Messages("C0INFRA") {
			if m.Ephemeral && m.User == "U02BOB" && strings.Contains(m.Text, "cannot approve your own request 2") {
				return true
			}
		}
		return false
	})
	slack.Click(t, "U01ALICE", request, "Approve")
	fake.WaitFor(t, "the teardown succeeding", func() bool { return hasMessage(fake, "run 2 `teardown staging` by bob: succeeded") })
	if m, _ := findMessage(fake, "request 2"); !strings.Contains(m.Text, "Approved by alice") || hasButtons(m) {
		t.Errorf("the approval request was not updated to its decision: %s", m.Text)
	}

	// A bad signature is refused and runs nothing.
	bad := slack.CommandRequest("U01ALICE", "C0INFRA", "lock staging")
	bad.Header.Set("X-Slack-Signature", "v0=00")
	if r := slack.Send(t, bad); r.Status != 401 {
		t.Errorf("bad signature answered %d", r.Status)
	}

	s.signal(syscall.SIGTERM)
	if err := s.wait(30 * time.Second); err != nil {
		t.Errorf("infrabot run did not stop cleanly: %v\n%s", err, s.logs.String())
	}
	for _, secret := range []string{e2eBotToken, e2eSigningSecret, simPassword} {
		if strings.Contains(s.logs.String(), secret) {
			t.Errorf("a secret is in the log")
		}
	}
}

func hasMessage(fake *slacktest.Server, text string) bool {
	_, ok := findMessage(fake, text)
	return ok
}

func findMessage(fake *slacktest.Server, text string) (slacktest.Message, bool) {
	for _, m := range fake.Messages("") {
		if strings.Contains(m.Text, text) {
			return m, true
		}
	}
	return slacktest.Message{}, false
}

func hasButtons(m slacktest.Message) bool {
	for _, b := range m.Blocks {
		if b["type"] == "actions" {
			return true
		}
	}
	return false
}
