package slack_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/actionstest"
	"github.com/infrabot/infrabot/bot"
	islack "github.com/infrabot/infrabot/bot/slack"
	"github.com/infrabot/infrabot/bot/slack/slacktest"
)

// scriptRouter answers each line with the reply scripted for it, after
// waiting for release when the line is "slow".
type scriptRouter struct {
	replies map[string]actions.Reply
	release chan struct{}
	// late is how long "late" takes.
	late time.Duration
}

func (s *scriptRouter) Handle(ctx context.Context, in bot.Incoming) (actions.Reply, bool) {
	switch in.Text {
	case "slow":
		<-s.release
	case "late":
		time.Sleep(s.late)
	}
	r, ok := s.replies[in.Text]
	return r, ok
}

// inlineWorld is the adapter with a scripted router, the fake Slack and a
// Slack that does not show answers itself, so that a test reads them.
type inlineWorld struct {
	adapter *islack.Adapter
	fake    *slacktest.Server
	slack   *slacktest.App
	router  *scriptRouter
}

func newInlineWorld(t *testing.T, wait time.Duration) *inlineWorld {
	t.Helper()
	var long []string
	for range 400 {
		long = append(long, "a line of output that is long enough to fill a block")
	}
	w := &inlineWorld{fake: slacktest.NewServer(t, botToken), router: &scriptRouter{release: make(chan struct{}), replies: map[string]actions.Reply{
		"whoami": {Message: actions.Message{Text: "you are alice (roles: viewer)"}},
		"nope":   {Message: actions.Message{Text: "you may not deploy", Tone: actions.ToneDanger}, Private: true},
		"slow":   {Message: actions.Message{Text: "finally done"}},
		"late":   {Message: actions.Message{Text: "done, late"}},
		"output": {Message: actions.Message{Text: "the logs", Lines: long}},
	}}}
	a, err := islack.New(islack.Options{BotToken: botToken, SigningSecret: secret, APIURL: w.fake.APIURL(), Router: w.router, InlineWait: wait})
	if err != nil {
		t.Fatal(err)
	}
	w.adapter = a
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		a.Close(ctx)
	})
	w.slack = &slacktest.App{URL: srv.URL, Secret: secret}
	return w
}

// commandResponse is a slash command's answer as Slack reads it.
type commandResponse struct {
	ResponseType string           `json:"response_type"`
	Text         string           `json:"text"`
	Blocks       []map[string]any `json:"blocks"`
}

func (w *inlineWorld) command(t *testing.T, channel, line string) (commandResponse, bool) {
	t.Helper()
	resp := w.slack.Command(t, alice, channel, line)
	if resp.Status != http.StatusOK {
		t.Fatalf("%q answered %d %s", line, resp.Status, resp.Body)
	}
	if resp.Body == "" {
		return commandResponse{}, false
	}
	var r commandResponse
	if err := json.Unmarshal([]byte(resp.Body), &r); err != nil {
		t.Fatalf("%q answered %q, not Slack's JSON: %v", line, resp.Body, err)
	}
	if code, err := slacktest.CheckMessage(r.Text, r.Blocks); err != nil {
		t.Fatalf("%q answered a message Slack refuses (%s): %v", line, code, err)
	}
	return r, true
}

func (w *inlineWorld) calls(method string) int {
	n := 0
	for _, c := range w.fake.Calls() {
		if c.Method == method {
			n++
		}
	}
	return n
}

func TestSlashCommandIsAnsweredInItsAcknowledgement(t *testing.T) {
	t.Parallel()
	w := newInlineWorld(t, 0)

	r, ok := w.command(t, infra, "whoami")
	if !ok || r.ResponseType != "in_channel" || !strings.Contains(r.Text, "you are alice") {
		t.Fatalf("whoami was answered %+v, want its reply in the channel", r)
	}
	if !strings.Contains(string(actionstest.JSON(t, r.Blocks)), "you are alice") {
		t.Errorf("the answer's blocks do not hold the reply: %s", actionstest.JSON(t, r.Blocks))
	}
	// Sent whole, with its length, not in chunks.
	req := w.slack.CommandRequest(alice, infra, "whoami")
	hr, err := http.NewRequest(http.MethodPost, w.slack.URL+req.Path, strings.NewReader(string(req.Body)))
	if err != nil {
		t.Fatal(err)
	}
	hr.Header = req.Header
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if len(resp.TransferEncoding) > 0 || resp.ContentLength != int64(len(body)) || len(body) == 0 {
		t.Errorf("the answer came with transfer encoding %v and length %d for %d bytes", resp.TransferEncoding, resp.ContentLength, len(body))
	}
	// A refusal is the person's alone.
	r, ok = w.command(t, infra, "nope")
	if !ok || r.ResponseType != "ephemeral" || !strings.Contains(r.Text, "you may not deploy") {
		t.Fatalf("a refusal was answered %+v, want it ephemeral", r)
	}
	// In a direct message everything is private already: no ephemeral.
	r, ok = w.command(t, "D01ALICE", "nope")
	if !ok || r.ResponseType != "in_channel" {
		t.Fatalf("a refusal in a DM was answered %+v, want in_channel", r)
	}
	if err := w.adapter.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := w.adapter.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	// An answer is counted once it was sent, which may be just after
	// Slack (this test) read it.
	answered := func() int64 { return w.adapter.Deliveries()[bot.CallAnswer].Delivered }
	for deadline := time.Now().Add(5 * time.Second); answered() < 4 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if got := answered(); got != 4 {
		t.Errorf("%d replies counted as answered in their acknowledgement, want 4", got)
	}
	if n := len(w.fake.Calls()); n != 0 {
		t.Errorf("replies that went in the acknowledgement were also sent through the Web API: %+v", w.fake.Calls())
	}
}

func TestSlowCommandIsAcknowledgedAtTheDeadlineAndItsReplyPosted(t *testing.T) {
	t.Parallel()
	w := newInlineWorld(t, 200*time.Millisecond)
	start := time.Now()
	if r, ok := w.command(t, infra, "slow"); ok {
		t.Fatalf("a command still running was answered %+v, want an empty acknowledgement", r)
	}
	if took := time.Since(start); took > 2500*time.Millisecond {
		t.Errorf("the acknowledgement took %s, past Slack's 3 seconds", took)
	}
	close(w.router.release)
	w.fake.WaitFor(t, "the reply posted", func() bool {
		for _, m := range w.fake.Messages(infra) {
			if !m.Ephemeral && strings.Contains(m.Text, "finally done") {
				return true
			}
		}
		return false
	})
	if n := w.calls("chat.postMessage"); n != 1 {
		t.Errorf("%d chat.postMessage calls, want the one reply", n)
	}
}

// With a wait set past what Slack would still take, a reply that comes
// within it but after 2.5 s is posted and the command acknowledged
// empty, rather than sent where no one reads it any more. Two things see
// to it: the wait is held to 2.5 s, and the acknowledgement posts a reply
// it holds past then; the test fails only if both are gone.
func TestReplyPastSlacksWindowIsPosted(t *testing.T) {
	t.Parallel()
	w := newInlineWorld(t, 2900*time.Millisecond)
	w.router.late = 2600 * time.Millisecond
	if r, ok := w.command(t, infra, "late"); ok {
		t.Fatalf("a reply ready after 2.6 s was answered in the acknowledgement: %+v", r)
	}
	w.fake.WaitFor(t, "the late reply posted", func() bool {
		for _, m := range w.fake.Messages(infra) {
			if strings.Contains(m.Text, "done, late") {
				return true
			}
		}
		return false
	})
	if got := w.adapter.Deliveries()[bot.CallAnswer].Delivered; got != 0 {
		t.Errorf("%d replies counted as answered in their acknowledgement, want 0", got)
	}
}

func TestReplyTooLongForTheAcknowledgementIsPostedWithItsThread(t *testing.T) {
	t.Parallel()
	w := newInlineWorld(t, 0)
	if r, ok := w.command(t, infra, "output"); ok {
		t.Fatalf("a reply that overflows into a thread was answered inline: %+v", r)
	}
	var head slacktest.Message
	w.fake.WaitFor(t, "the reply and its thread", func() bool {
		for _, m := range w.fake.Messages(infra) {
			if m.ThreadTS == "" && strings.Contains(m.Text, "the logs") {
				head = m
			}
			if head.TS != "" && m.ThreadTS == head.TS {
				return true
			}
		}
		return false
	})
}

func TestInlineAnswersCanBeTurnedOff(t *testing.T) {
	t.Parallel()
	w := newInlineWorld(t, -1)
	if r, ok := w.command(t, infra, "whoami"); ok {
		t.Fatalf("answered %+v with inline answers off", r)
	}
	w.fake.WaitFor(t, "the reply posted", func() bool { return w.calls("chat.postMessage") == 1 })
}
