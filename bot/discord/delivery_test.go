package discord_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/bot"
	"github.com/infrabot/infrabot/bot/discord"
	"github.com/infrabot/infrabot/bot/discord/discordtest"
)

// logBuffer is a log the adapter writes to and a test reads.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func logTo(l *logBuffer) func(*discord.Options) {
	return func(o *discord.Options) { o.Logger = slog.New(slog.NewTextHandler(l, nil)) }
}

// Discord limits calls per bucket: a 429 on one channel's messages holds
// back that call, not a post to another channel.
func TestARateLimitHoldsOnlyItsBucket(t *testing.T) {
	t.Parallel()
	// Waits of 10 s or more last until their context ends, so that the
	// 429's wait is still on while the other channel is posted to.
	w := newWorld(t, func(o *discord.Options) {
		sleep := o.Sleep
		o.Sleep = func(ctx context.Context, d time.Duration) error {
			if d >= 10*time.Second {
				<-ctx.Done()
				return ctx.Err()
			}
			return sleep(ctx, d)
		}
	})
	const other = "345678901234567999"
	w.fake.Fail(discordtest.Fault{Route: "POST /channels", Status: http.StatusTooManyRequests, RetryAfter: 30 * time.Second, Bucket: "abcd1234"})
	limitedCtx, cancel := context.WithCancel(context.Background())
	limited := make(chan error, 1)
	go func() {
		_, err := w.adapter.Post(limitedCtx, infra, actions.Message{Summary: "held by its bucket"})
		limited <- err
	}()
	waitUntil(t, "the 429 waited out", func() bool { return w.adapter.Deliveries()[bot.CallPost].RateLimited == 1 })

	ctx, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	if _, err := w.adapter.Post(ctx, other, actions.Message{Summary: "another bucket"}); err != nil {
		t.Errorf("a post to another channel waited for the first one's 429: %v", err)
	}
	cancel()
	if err := <-limited; !errors.Is(err, context.Canceled) {
		t.Errorf("the limited post ended with %v, want it still waiting until its caller gave up", err)
	}
	if c := w.adapter.Deliveries()[bot.CallPost]; c.RateLimited != 1 || c.Delivered != 1 {
		t.Errorf("post counts %+v, want 1 rate-limited, 1 delivered", c)
	}
}

// waitUntil polls cond, for what the fake does not see.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Whether a 429 holds the bucket or the whole application is what
// Discord says: X-RateLimit-Global (and "global": true) for the latter.
func TestRateLimitScopeIsDiscords(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		global bool
		want   string
	}{
		{"bucket", false, "scope=route"},
		{"global", true, "scope=platform"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			log := &logBuffer{}
			w := newWorld(t, logTo(log))
			w.fake.Fail(discordtest.Fault{Route: "POST /channels", Status: http.StatusTooManyRequests, RetryAfter: 50 * time.Millisecond, Global: tc.global})
			if _, err := w.adapter.Post(context.Background(), infra, actions.Message{Summary: "after the limit"}); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(log.String(), tc.want) {
				t.Errorf("the wait was not logged with %s:\n%s", tc.want, log)
			}
		})
	}
}

// A command whose handling outlasts its token (15 minutes) is still
// answered: in the channel when the reply is public, by direct message
// when it is private; never with the dead token.
func TestAnswersOutliveTheirToken(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.router.slow.Store(int64(discord.TokenLife))
	w.discord.Deliver(t, w.fake.Command(alice, guild, infra, "runs", nil))
	w.expect(infra, "the reply as a bot message in the channel", func(m discordtest.Message) bool {
		return m.Interaction == "" && !m.Ephemeral && m.Content+discordtest.Text(m) != ""
	})
	w.discord.Deliver(t, w.fake.Command(carol, guild, infra, "lock", map[string]any{"env": "staging"}))
	w.expectMessage("7"+carol.ID[1:], "carol may not lock")
	w.settle()
	for _, c := range w.fake.Calls() {
		if strings.Contains(c.Route, "/webhooks/") {
			t.Errorf("a call was made with a token 15 minutes old: %s %s (%d)", c.Method, c.Route, c.Status)
		}
	}
}

// An interaction's token is a secret: a network error names the URL it
// is in, and the log never sees it.
func TestInteractionTokensNeverReachTheLog(t *testing.T) {
	t.Parallel()
	log := &logBuffer{}
	var failed atomic.Int32
	w := newWorld(t, logTo(log), func(o *discord.Options) {
		o.HTTPClient = &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
			if strings.Contains(r.URL.Path, "/webhooks/") && failed.Add(1) == 1 {
				return nil, errors.New("connection reset by peer")
			}
			return http.DefaultTransport.RoundTrip(r)
		})}
	})
	ix := w.fake.Command(alice, guild, infra, "runs", nil)
	w.discord.Deliver(t, ix)
	w.expect(infra, "the reply in @original", func(m discordtest.Message) bool { return m.Original && !m.Thinking })
	w.settle()
	if failed.Load() == 0 {
		t.Fatal("no call failed: the test checks nothing")
	}
	tok, _ := ix["token"].(string)
	if out := log.String(); !strings.Contains(out, "connection reset") || strings.Contains(out, tok) {
		t.Errorf("the failure was not logged, or the log holds the token %q:\n%s", tok, out)
	}
}

// Discord is slow and the HTTP client's Timeout fires: that is not a
// refusal (nor the caller giving up) but a failure that may go away, so
// the edit is sent again and lands.
func TestAClientTimeoutIsRetried(t *testing.T) {
	t.Parallel()
	var slow atomic.Bool
	w := newWorld(t, func(o *discord.Options) {
		o.HTTPClient = &http.Client{Timeout: 50 * time.Millisecond, Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
			if r.Method == http.MethodPatch && slow.CompareAndSwap(false, true) {
				<-r.Context().Done() // Discord answers too late
				return nil, r.Context().Err()
			}
			return http.DefaultTransport.RoundTrip(r)
		})}
	})
	ctx := context.Background()
	ref, err := w.adapter.Post(ctx, infra, actions.Message{Summary: "run 1", Text: "run 1 started"})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.adapter.Update(ctx, ref, actions.Message{Summary: "run 1", Text: "run 1 succeeded"}); err != nil {
		t.Fatal(err)
	}
	if err := w.adapter.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if !slow.Load() {
		t.Fatal("no call timed out: the test checks nothing")
	}
	if c := w.adapter.Deliveries()[bot.CallUpdate]; c.Retried != 1 || c.Delivered != 1 || c.Failed != 0 {
		t.Errorf("update counts %+v, want delivered after 1 retry", c)
	}
	if m, _ := w.fake.Message(ref.ID); !strings.Contains(discordtest.Text(m), "run 1 succeeded") {
		t.Errorf("Discord shows %q, want the latest state", discordtest.Text(m))
	}
}

// Discord created a message but the connection dropped before its answer
// came back: the retry carries the same nonce with enforce_nonce, and
// Discord answers it with the message it has instead of creating a
// second one.
func TestAPostWhoseAnswerIsLostIsNotDeliveredTwice(t *testing.T) {
	t.Parallel()
	var dropped atomic.Bool
	w := newWorld(t, func(o *discord.Options) {
		o.HTTPClient = &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
			resp, err := http.DefaultTransport.RoundTrip(r)
			if err == nil && r.Method == http.MethodPost && strings.Contains(r.URL.Path, "/channels/") && dropped.CompareAndSwap(false, true) {
				resp.Body.Close()
				return nil, io.ErrUnexpectedEOF // Discord has it; infrabot never hears so
			}
			return resp, err
		})}
	})
	ref, err := w.adapter.Post(context.Background(), infra, actions.Message{Summary: "PAGE: db down"})
	if err != nil {
		t.Fatal(err)
	}
	if !dropped.Load() {
		t.Fatal("no answer was lost: the test checks nothing")
	}
	msgs := w.fake.Messages(infra)
	if len(msgs) != 1 {
		t.Fatalf("the page is in the channel %d times, want once", len(msgs))
	}
	if msgs[0].ID != ref.ID {
		t.Errorf("Post returned %s, but the message is %s", ref.ID, msgs[0].ID)
	}
	if c := w.adapter.Deliveries()[bot.CallPost]; c.Retried != 1 || c.Delivered != 1 {
		t.Errorf("post counts %+v, want delivered after 1 retry", c)
	}
}

// A follow-up whose token is about to die moves to a new bot message,
// created with the update's call key as nonce. Discord created it from
// one state but the answer was lost, and a newer state was queued
// meanwhile: the retry carries the newer state and the same nonce, and
// Discord answers with the message it created from the older one. That
// message is then edited to the newer state: the latest state is the one
// shown, and the run is in the channel once.
func TestAMovedFollowUpShowsTheStateItsRetryCarried(t *testing.T) {
	t.Parallel()
	var armed, dropped atomic.Bool
	var adapter atomic.Pointer[discord.Adapter]
	var ref actions.MessageRef
	done := actions.Message{Summary: "run 1", Text: "run 1 succeeded"}
	w := newWorld(t, func(o *discord.Options) {
		o.HTTPClient = &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
			resp, err := http.DefaultTransport.RoundTrip(r)
			if err == nil && armed.Load() && r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/channels/"+infra+"/messages") &&
				dropped.CompareAndSwap(false, true) {
				resp.Body.Close()
				// The run ends while the answer is on its way, and is lost.
				if err := adapter.Load().Update(context.Background(), ref, done); err != nil {
					t.Error(err)
				}
				return nil, io.ErrUnexpectedEOF
			}
			return resp, err
		})}
	})
	adapter.Store(w.adapter)
	ix := w.fake.Command(alice, guild, infra, "runs", nil)
	w.discord.Deliver(t, ix)
	w.expect(infra, "the reply in @original", func(m discordtest.Message) bool { return m.Original && !m.Thinking })
	ctx := context.Background()
	var err error
	ref, err = w.adapter.Post(ctx, infra+"/"+ix.ID(), actions.Message{Summary: "run 1", Text: "run 1 started"})
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := w.fake.Message(ref.ID); m.Interaction == "" {
		t.Fatal("the message is not a follow-up: the test checks nothing")
	}
	w.settle()
	w.clock.advance(discord.TokenLife - 30*time.Second) // too old to edit the follow-up with
	armed.Store(true)
	if err := w.adapter.Update(ctx, ref, actions.Message{Summary: "run 1", Text: "run 1: step 2"}); err != nil {
		t.Fatal(err)
	}
	if err := w.adapter.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if !dropped.Load() {
		t.Fatal("no answer was lost: the test checks nothing")
	}
	var moved []discordtest.Message
	for _, m := range w.fake.Messages(infra) {
		if m.Interaction == "" {
			moved = append(moved, m)
		}
	}
	if len(moved) != 1 {
		t.Fatalf("the run continued in %d bot messages, want one", len(moved))
	}
	if got := discordtest.Text(moved[0]); !strings.Contains(got, "run 1 succeeded") {
		t.Errorf("the run's message shows %q, want its latest state", got)
	}
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// A person deleted a run's live message: the edit is answered 10008
// Unknown Message once, and the run's later states are not sent again
// (Discord bans clients that make 10,000 invalid requests in 10 minutes).
func TestAMessageDeletedByAPersonIsNotEditedAgain(t *testing.T) {
	t.Parallel()
	log := &logBuffer{}
	w := newWorld(t, logTo(log), func(o *discord.Options) { o.UpdateInterval = time.Millisecond })
	ctx := context.Background()
	ref, err := w.adapter.Post(ctx, infra, actions.Message{Summary: "run 1"})
	if err != nil {
		t.Fatal(err)
	}
	w.fake.Delete(ref.ID)
	for i := range 20 {
		if err := w.adapter.Update(ctx, ref, actions.Message{Summary: "run 1", Text: strings.Repeat("✓", i+1)}); err != nil {
			t.Fatal(err)
		}
		if err := w.adapter.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		w.clock.advance(time.Second)
	}
	if n := len(w.fake.CallsTo("PATCH /channels")); n != 1 {
		t.Errorf("%d edits of a deleted message, want one", n)
	}
	if n := strings.Count(log.String(), "level=ERROR"); n != 1 {
		t.Errorf("%d error lines, want one:\n%s", n, log)
	}
	if c := w.adapter.Deliveries()[bot.CallUpdate]; c.Failed != 20 {
		t.Errorf("update counts %+v, want all 20 states failed", c)
	}
}
