package slack_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/actionstest"
	"github.com/infrabot/infrabot/bot"
	"github.com/infrabot/infrabot/bot/bottest"
	islack "github.com/infrabot/infrabot/bot/slack"
	"github.com/infrabot/infrabot/bot/slack/slacktest"
)

func TestBurstOf429sDelaysButLosesNothing(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.fake.Fail(
		slacktest.Fault{Method: "chat.postMessage", Status: http.StatusTooManyRequests, RetryAfter: 3},
		slacktest.Fault{Method: "chat.postMessage", Status: http.StatusTooManyRequests, RetryAfter: 3},
		slacktest.Fault{Method: "chat.update", Status: http.StatusTooManyRequests, RetryAfter: 2},
		slacktest.Fault{Method: "chat.update", Status: http.StatusTooManyRequests, RetryAfter: 2},
		slacktest.Fault{Method: "chat.update", Status: http.StatusTooManyRequests, RetryAfter: 2},
		slacktest.Fault{Status: http.StatusInternalServerError},
		slacktest.Fault{Status: http.StatusBadGateway},
	)
	w.slack.Command(t, alice, infra, "deploy staging")
	progress := w.expectMessage(infra, "run 1: deploy staging")
	w.settle()
	final := w.latest(progress.TS)
	if !bottest.ContainsAll(text(final), []string{"succeeded", "step 6"}) {
		t.Fatalf("the final state was lost:\n%s", text(final))
	}
	w.expectMessage(infra, "run 1 started")

	// Retry-After was honoured: the adapter waited as long as asked.
	sleeps := w.sleeps.All()
	for _, want := range []time.Duration{3 * time.Second, 2 * time.Second} {
		if !slices.Contains(sleeps, want) {
			t.Errorf("never waited %s as Retry-After asked; waits: %v", want, sleeps)
		}
	}
	// Order per message: every delivered update shows at least as many
	// finished steps as the one before.
	done := -1
	for _, c := range w.fake.Calls() {
		if c.Method != "chat.update" || c.Status != http.StatusOK || c.Args.Get("ts") != progress.TS {
			continue
		}
		n := strings.Count(c.Args.Get("blocks"), "✓ step")
		if n < done {
			t.Errorf("an older state of the run was delivered after a newer one (%d steps after %d)", n, done)
		}
		done = n
	}
	if done != 6 {
		t.Errorf("the last delivered update shows %d finished steps, want 6", done)
	}
}

func TestUpdatesAreCoalescedAndTheLastStateWins(t *testing.T) {
	t.Parallel()
	fake := slacktest.NewServer(t, botToken)
	// The clock moves only when the outbox's wait is released, by as long
	// as it asked to wait.
	clock := actionstest.NewClock(time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC))
	waits := make(chan time.Duration)
	release := make(chan struct{})
	a, err := islack.New(islack.Options{
		BotToken: botToken, APIURL: fake.APIURL(), Router: &countingRouter{},
		Now: clock.Now,
		Sleep: func(ctx context.Context, d time.Duration) error {
			waits <- d
			<-release
			clock.Advance(d)
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ref, err := a.Post(ctx, infra, actions.Message{Title: "run 7: provision staging", Summary: "run 7", Lines: []string{"… create"}})
	if err != nil {
		t.Fatal(err)
	}
	// The message was just posted: its first update waits its turn, and
	// the twenty states that arrive meanwhile become one update.
	for i := 1; i <= 20; i++ {
		if err := a.Update(ctx, ref, actions.Message{Title: "run 7: provision staging", Summary: "run 7", Lines: []string{fmt.Sprintf("✓ create %d", i)}}); err != nil {
			t.Fatal(err)
		}
	}
	if d := <-waits; d <= 0 || d > time.Second {
		t.Errorf("waited %s before the first update, want up to 1s", d)
	}
	release <- struct{}{}
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	var updates []string
	for _, c := range fake.Calls() {
		if c.Method == "chat.update" {
			updates = append(updates, c.Args.Get("text"))
		}
	}
	if len(updates) != 1 || !strings.Contains(updates[0], "✓ create 20") {
		t.Fatalf("updates sent: %q, want one showing the last state", updates)
	}
	if got := a.Deliveries()["update"]; got.Delivered != 1 || got.Coalesced != 19 {
		t.Errorf("update counts %+v, want 1 delivered and 19 coalesced", got)
	}
}

// Lines too many for one message go to its thread. Output shows its last
// lines and threads the earlier ones; a list, which puts what matters
// most first (broken jobs), shows its first lines and threads the rest.
func TestLongLinesGoToTheThread(t *testing.T) {
	t.Parallel()
	var lines []string
	for i := range 400 {
		lines = append(lines, fmt.Sprintf("line %03d of the audit log, long enough to matter", i))
	}
	for _, c := range []struct {
		name            string
		tail            bool
		shown, threaded []string
		note            string
	}{
		{"output", true, []string{"line 399"}, []string{"line 000", "line 100"}, "earlier lines are not shown here; see the thread"},
		{"list", false, []string{"line 000"}, []string{"line 399", "line 300"}, "more lines are not shown here; see the thread"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			fake := slacktest.NewServer(t, botToken)
			a, err := islack.New(islack.Options{BotToken: botToken, APIURL: fake.APIURL(), Router: &countingRouter{}})
			if err != nil {
				t.Fatal(err)
			}
			ref, err := a.Post(context.Background(), infra, actions.Message{Title: "audit", Summary: "audit", Lines: lines, Tail: c.tail})
			if err != nil {
				t.Fatal(err)
			}
			if err := a.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			var main, thread string
			for _, m := range fake.Messages(infra) {
				if m.TS == ref.ID {
					main = text(m)
				} else if m.ThreadTS == ref.ID {
					thread += text(m)
				}
			}
			if !bottest.ContainsAll(main, append(c.shown, c.note)) {
				t.Errorf("the message should show %q and say %q:\n%.300s", c.shown, c.note, main)
			}
			for _, l := range c.threaded {
				if strings.Contains(main, l) || !strings.Contains(thread, l) {
					t.Errorf("%q should be in the thread, not the message", l)
				}
			}
		})
	}
}

// Closing right after a post has nothing to wait for: each post used to
// start a goroutine that slept the update interval, so Close took a
// second.
func TestCloseRightAfterAPostDoesNotWait(t *testing.T) {
	t.Parallel()
	fake := slacktest.NewServer(t, botToken)
	var mu sync.Mutex
	var waits []time.Duration
	a, err := islack.New(islack.Options{
		BotToken: botToken, APIURL: fake.APIURL(), Router: &countingRouter{},
		Sleep: func(ctx context.Context, d time.Duration) error {
			mu.Lock()
			waits = append(waits, d)
			mu.Unlock()
			return ctx.Err()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Post(context.Background(), infra, actions.Message{Summary: "hello", Text: "hello"}); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(waits) > 0 {
		t.Errorf("the adapter waited %v after a post with nothing left to send", waits)
	}
}

// Direct messages to one person open the conversation once
// (conversations.open), then go to it in order.
func TestDirectMessagesOpenTheConversationOnce(t *testing.T) {
	t.Parallel()
	fake := slacktest.NewServer(t, botToken)
	a, err := islack.New(islack.Options{BotToken: botToken, APIURL: fake.APIURL(), Router: &countingRouter{}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, s := range []string{"you are on call", "the health check failed"} {
		ref, err := a.Direct(ctx, bob, actions.Message{Summary: s, Text: s})
		if err != nil {
			t.Fatal(err)
		}
		if ref.Channel != "D02BOB" || ref.Platform != islack.Platform || ref.ID == "" {
			t.Errorf("a direct message's ref is %+v, want bob's DM D02BOB", ref)
		}
	}
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	opens := 0
	for _, c := range fake.Calls() {
		if c.Method == "conversations.open" {
			opens++
			if c.Args.Get("users") != bob {
				t.Errorf("conversations.open for %q, want %s", c.Args.Get("users"), bob)
			}
		}
	}
	if opens != 1 {
		t.Errorf("conversations.open was called %d times, want once", opens)
	}
	var got []string
	for _, m := range fake.Messages("D02BOB") {
		got = append(got, m.Text)
	}
	if !slices.Equal(got, []string{"you are on call", "the health check failed"}) {
		t.Errorf("bob's DM shows %q", got)
	}
	if c := a.Deliveries()["open_dm"]; c.Delivered != 1 {
		t.Errorf("open_dm counts %+v, want 1 delivered", c)
	}
}

// A person deleted a run's live message: chat.update is refused
// message_not_found once, logged once, and the run's later states are not
// sent again.
func TestAMessageDeletedByAPersonIsNotEditedAgain(t *testing.T) {
	t.Parallel()
	fake := slacktest.NewServer(t, botToken)
	log := &actionstest.Buffer{}
	a, err := islack.New(islack.Options{BotToken: botToken, APIURL: fake.APIURL(), HTTPClient: fake.Client(), Router: &countingRouter{},
		UpdateInterval: time.Millisecond, UpdateBudget: bot.Budget{PerMinute: -1}, Logger: slog.New(slog.NewTextHandler(log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(context.Background())
	ctx := context.Background()
	ref, err := a.Post(ctx, infra, actions.Message{Summary: "run 1"})
	if err != nil {
		t.Fatal(err)
	}
	fake.Delete(infra, ref.ID)
	for i := range 20 {
		if err := a.Update(ctx, ref, actions.Message{Summary: "run 1", Text: fmt.Sprintf("step %d", i)}); err != nil {
			t.Fatal(err)
		}
		if err := a.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond) // past the update interval
	}
	refused := 0
	for _, c := range fake.Calls() {
		if c.Method == "chat.update" {
			refused++
		}
	}
	if refused != 1 {
		t.Errorf("chat.update was called %d times for a deleted message, want once", refused)
	}
	if n := strings.Count(log.String(), "level=ERROR"); n != 1 {
		t.Errorf("%d error lines, want one:\n%s", n, log)
	}
	if c := a.Deliveries()[bot.CallUpdate]; c.Failed != 20 {
		t.Errorf("update counts %+v, want all 20 states failed", c)
	}
}

// Slack is slow and the HTTP client's Timeout fires: that is not a
// refusal (nor the caller giving up) but a failure that may go away, so
// the update is sent again and lands.
func TestAClientTimeoutIsRetried(t *testing.T) {
	t.Parallel()
	fake := slacktest.NewServer(t, botToken)
	inner := fake.Client().Transport
	var slow atomic.Bool
	hc := &http.Client{Timeout: 50 * time.Millisecond, Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
		if strings.HasSuffix(r.URL.Path, "/chat.update") && slow.CompareAndSwap(false, true) {
			<-r.Context().Done() // Slack answers too late
			return nil, r.Context().Err()
		}
		return inner.RoundTrip(r)
	})}
	a := noWaitAdapter(t, fake, hc, nil)
	ctx := context.Background()
	ref, err := a.Post(ctx, infra, actions.Message{Summary: "run 1", Text: "run 1 started"})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Update(ctx, ref, actions.Message{Summary: "run 1", Text: "run 1 succeeded"}); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if !slow.Load() {
		t.Fatal("no call timed out: the test checks nothing")
	}
	if c := a.Deliveries()[bot.CallUpdate]; c.Retried != 1 || c.Delivered != 1 || c.Failed != 0 {
		t.Errorf("update counts %+v, want delivered after 1 retry", c)
	}
	if m := fake.Messages(infra); len(m) != 1 || m[0].Text != "run 1 succeeded" {
		t.Errorf("Slack has %+v, want the message in its latest state", m)
	}
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// noWaitAdapter is an adapter on fake whose calls go through hc and whose
// backoff does not wait; log may be nil.
func noWaitAdapter(t *testing.T, fake *slacktest.Server, hc *http.Client, log *slog.Logger) *islack.Adapter {
	t.Helper()
	a, err := islack.New(islack.Options{BotToken: botToken, APIURL: fake.APIURL(), HTTPClient: hc, Router: &countingRouter{},
		Logger: log, Sleep: func(ctx context.Context, d time.Duration) error { return ctx.Err() }})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// Slack posted a message (or a thread reply) but its answer was lost: the
// connection dropped, or the HTTP client's Timeout fired first. The retry
// looks for the message (by the key in its metadata) before posting, and
// finds it: every message is in Slack once. A connection refused before
// anything was sent is simply retried.
func TestAPostWhoseAnswerIsLostIsNotDeliveredTwice(t *testing.T) {
	var lines []string
	for i := range 300 {
		lines = append(lines, fmt.Sprintf("output line %03d, long enough to fill a thread", i))
	}
	for _, tc := range []struct {
		name   string
		thread bool
		fail   func(r *http.Request, send func() (*http.Response, error)) (*http.Response, error)
	}{
		{"connection dropped after the post", false, dropAnswer},
		{"connection dropped after a thread reply", true, dropAnswer},
		{"client timeout", false, func(r *http.Request, send func() (*http.Response, error)) (*http.Response, error) {
			send()
			<-r.Context().Done() // the answer comes too late
			return nil, r.Context().Err()
		}},
		{"connection refused", false, func(*http.Request, func() (*http.Response, error)) (*http.Response, error) {
			return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake := slacktest.NewServer(t, botToken)
			inner := fake.Client().Transport
			var failed atomic.Bool
			hc := &http.Client{Timeout: time.Second, Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
				if strings.HasSuffix(r.URL.Path, "/chat.postMessage") {
					body, _ := io.ReadAll(r.Body)
					r.Body = io.NopCloser(bytes.NewReader(body))
					if strings.Contains(string(body), "thread_ts=") == tc.thread && failed.CompareAndSwap(false, true) {
						return tc.fail(r, func() (*http.Response, error) { return inner.RoundTrip(r) })
					}
				}
				return inner.RoundTrip(r)
			})}
			a := noWaitAdapter(t, fake, hc, nil)
			ref, err := a.Post(context.Background(), infra, actions.Message{Summary: "PAGE: db down", Lines: lines, Tail: true})
			if err != nil {
				t.Fatal(err)
			}
			if err := a.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			if !failed.Load() {
				t.Fatal("no post failed: the test checks nothing")
			}
			var top []slacktest.Message
			seen := map[string]int{}
			for _, m := range fake.Messages(infra) {
				if m.ThreadTS == "" {
					top = append(top, m)
					continue
				}
				for _, l := range lines {
					if strings.Contains(fmt.Sprint(m.Blocks), l) {
						seen[l]++
					}
				}
			}
			if len(top) != 1 || top[0].TS != ref.ID {
				t.Errorf("the page is in the channel %d times (Post returned %s), want once", len(top), ref.ID)
			}
			for l, n := range seen {
				if n != 1 {
					t.Errorf("%q is in the thread %d times", l, n)
				}
			}
			if len(seen) == 0 {
				t.Error("nothing was threaded")
			}
		})
	}
}

// dropAnswer lets Slack have the call, and loses its answer.
func dropAnswer(r *http.Request, send func() (*http.Response, error)) (*http.Response, error) {
	resp, err := send()
	if err == nil {
		resp.Body.Close()
	}
	return nil, io.ErrUnexpectedEOF
}

// slackAnswer is a Web API answer of ok:false with error.
func slackAnswer(r *http.Request, error string) *http.Response {
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(`{"ok":false,"error":"` + error + `"}`)), Request: r}
}

// A post whose answer was lost cannot be looked for when Slack refuses
// the look: conversations.history answers not_in_channel in a public
// channel infrabot posts to without being a member (chat:write.public),
// missing_scope on an install without the history scopes. The post is
// sent again, and the log says it may be there twice: a page in the
// channel twice beats one lost. (The look's refusal used to be taken for
// the post's own, and the page was given up.)
func TestAPostIsSentAgainWhenTheLookForItIsRefused(t *testing.T) {
	for _, refusal := range []string{"not_in_channel", "missing_scope"} {
		t.Run(refusal, func(t *testing.T) {
			t.Parallel()
			fake := slacktest.NewServer(t, botToken)
			inner := fake.Client().Transport
			var dropped atomic.Bool
			hc := &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
				switch {
				case strings.HasSuffix(r.URL.Path, "/chat.postMessage") && dropped.CompareAndSwap(false, true):
					return nil, io.ErrUnexpectedEOF // dropped before Slack had it
				case strings.HasSuffix(r.URL.Path, "/conversations.history"):
					return slackAnswer(r, refusal), nil
				}
				return inner.RoundTrip(r)
			})}
			log := &actionstest.Buffer{}
			a := noWaitAdapter(t, fake, hc, slog.New(slog.NewTextHandler(log, nil)))
			ref, err := a.Post(context.Background(), infra, actions.Message{Summary: "PAGE: db down", Text: "PAGE: db down"})
			if err != nil {
				t.Fatalf("the page was given up: %v", err)
			}
			if err := a.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			if msgs := fake.Messages(infra); len(msgs) != 1 || msgs[0].TS != ref.ID {
				t.Errorf("the page is in the channel %d times (Post returned %s), want once", len(msgs), ref.ID)
			}
			if out := log.String(); !strings.Contains(out, "may be in the channel twice") || !strings.Contains(out, refusal) {
				t.Errorf("the log does not say the post may be a duplicate, and why:\n%s", out)
			}
		})
	}
}

// Slack documents that a call answered internal_error or fatal_error may
// have been carried out: such a post is looked for before it is sent
// again, like one whose answer was lost, and is in the channel once.
func TestAPostAnsweredWithAServerErrorIsLookedForFirst(t *testing.T) {
	for _, answer := range []string{"internal_error", "fatal_error"} {
		t.Run(answer, func(t *testing.T) {
			t.Parallel()
			fake := slacktest.NewServer(t, botToken)
			inner := fake.Client().Transport
			var failed atomic.Bool
			hc := &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
				if strings.HasSuffix(r.URL.Path, "/chat.postMessage") && failed.CompareAndSwap(false, true) {
					resp, err := inner.RoundTrip(r) // Slack posted it
					if err != nil {
						return nil, err
					}
					resp.Body.Close()
					return slackAnswer(r, answer), nil
				}
				return inner.RoundTrip(r)
			})}
			a := noWaitAdapter(t, fake, hc, nil)
			ref, err := a.Post(context.Background(), infra, actions.Message{Summary: "PAGE: db down", Text: "PAGE: db down"})
			if err != nil {
				t.Fatal(err)
			}
			if err := a.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			if !failed.Load() {
				t.Fatal("no post failed: the test checks nothing")
			}
			if msgs := fake.Messages(infra); len(msgs) != 1 || msgs[0].TS != ref.ID {
				t.Errorf("the page is in the channel %d times (Post returned %s), want once", len(msgs), ref.ID)
			}
		})
	}
}
