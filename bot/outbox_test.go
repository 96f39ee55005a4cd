package bot_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/actionstest"
	"github.com/infrabot/infrabot/bot"
)

// platform is a fake chat platform behind the Carrier interface: it
// records every call with the (bubble's) time it was made, and answers
// with the faults queued for a call before succeeding.
type platform struct {
	mu      sync.Mutex
	calls   []call
	faults  map[string][]error
	nextID  int
	perPost int // lines a Thread call takes; 2 by default
}

type call struct {
	What, Channel, ID, Text string
	At                      time.Time
	Err                     error
}

// failure is an error of a given kind, as a platform's client returns it.
type failure struct {
	kind  bot.Failure
	after time.Duration
}

func (f failure) Error() string { return fmt.Sprintf("%s (retry after %s)", f.kind, f.after) }

var (
	refused   = failure{kind: bot.Refused}
	transient = failure{kind: bot.Transient}
	gone      = failure{kind: bot.Gone}
)

func limited(d time.Duration) failure { return failure{kind: bot.RateLimited, after: d} }

func newPlatform() *platform { return &platform{faults: map[string][]error{}, perPost: 2} }

// fail queues errs as the answers to the next calls of what.
func (p *platform) fail(what string, errs ...error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults[what] = append(p.faults[what], errs...)
}

func (p *platform) record(what, channel, id, text string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := call{What: what, Channel: channel, ID: id, Text: text, At: time.Now()}
	if q := p.faults[what]; len(q) > 0 {
		c.Err = q[0]
		p.faults[what] = q[1:]
	}
	p.calls = append(p.calls, c)
	return c.Err
}

// delivered returns the successful calls of what, in order.
func (p *platform) delivered(what string) []call {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []call
	for _, c := range p.calls {
		if c.What == what && c.Err == nil {
			out = append(out, c)
		}
	}
	return out
}

func (p *platform) attempts(what string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, c := range p.calls {
		if c.What == what {
			n++
		}
	}
	return n
}

func (p *platform) Post(ctx context.Context, channel string, m actions.Message) (string, []string, error) {
	p.mu.Lock()
	p.nextID++
	id := fmt.Sprintf("m%d", p.nextID)
	p.mu.Unlock()
	if err := p.record("post", channel, id, m.Text); err != nil {
		return "", nil, err
	}
	return id, m.Lines, nil
}

func (p *platform) Update(ctx context.Context, channel, id string, m actions.Message) ([]string, error) {
	if err := p.record("update", channel, id, m.Text); err != nil {
		return nil, err
	}
	return m.Lines, nil
}

func (p *platform) Thread(ctx context.Context, channel, id string, lines []string) (int, error) {
	n := min(p.perPost, len(lines))
	if err := p.record("thread", channel, id, strings.Join(lines[:n], ",")); err != nil {
		return 0, err
	}
	return n, nil
}

func (p *platform) OpenDM(ctx context.Context, user string) (string, error) {
	if err := p.record("open_dm", "", "", user); err != nil {
		return "", err
	}
	return "D-" + user, nil
}

func (p *platform) Classify(err error) (bot.Failure, time.Duration) {
	var f failure
	if errors.As(err, &f) {
		return f.kind, f.after
	}
	return bot.Transient, 0
}

// logBuffer collects log lines from several goroutines.
type logBuffer struct{ actionstest.Buffer }

// lines returns the lines at level (e.g. "ERROR").
func (l *logBuffer) lines(level string) []string {
	var out []string
	for _, s := range strings.Split(l.String(), "\n") {
		if strings.Contains(s, "level="+level) {
			out = append(out, s)
		}
	}
	return out
}

func newOutbox(p *platform, log *logBuffer, tweak ...func(*bot.OutboxOptions)) *bot.Outbox {
	opts := bot.OutboxOptions{Platform: "fake", Logger: slog.New(slog.NewTextHandler(log, nil))}
	for _, f := range tweak {
		f(&opts)
	}
	return bot.NewOutbox(p, opts)
}

func msg(text string, lines ...string) actions.Message {
	return actions.Message{Summary: text, Text: text, Lines: lines}
}

func flush(t *testing.T, o *bot.Outbox) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	if err := o.Close(ctx); err != nil {
		t.Fatalf("the queue did not drain: %v", err)
	}
}

// mustPost posts m to channel through o and returns its id, failing the
// test if the post fails.
func mustPost(t *testing.T, o *bot.Outbox, channel string, m actions.Message) string {
	t.Helper()
	id, err := o.Post(t.Context(), channel, m)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func texts(calls []call) []string {
	var out []string
	for _, c := range calls {
		out = append(out, c.Text)
	}
	return out
}

func TestMessagesToAChannelLeaveInOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPlatform()
		// A failing message holds back those behind it in its channel,
		// not those of another channel.
		p.fail("post", transient, transient)
		o := newOutbox(p, &logBuffer{})
		var want []string
		for i := range 20 {
			o.Send("C1", msg(fmt.Sprintf("c1 %02d", i)))
			o.Send("C2", msg(fmt.Sprintf("c2 %02d", i)))
			want = append(want, fmt.Sprintf("c1 %02d", i))
		}
		flush(t, o)
		var got []string
		for _, c := range p.delivered("post") {
			if c.Channel == "C1" {
				got = append(got, c.Text)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("C1 received %q, want %q", got, want)
		}
		if n := len(p.delivered("post")); n != 40 {
			t.Errorf("%d messages delivered, want 40", n)
		}
		if c := o.Counts()[bot.CallPost]; c.Delivered != 40 || c.Retried != 2 || c.Failed != 0 {
			t.Errorf("post counts %+v, want 40 delivered, 2 retried", c)
		}
	})
}

func TestUpdatesAreCoalescedAndNeverReordered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPlatform()
		o := newOutbox(p, &logBuffer{})
		id := mustPost(t, o, "C1", msg("state 0"))
		start := time.Now()
		for i := 1; i <= 100; i++ {
			o.Update("C1", id, msg(fmt.Sprintf("state %03d", i)))
			time.Sleep(50 * time.Millisecond)
		}
		flush(t, o)
		updates := p.delivered("update")
		got := texts(updates)
		if len(got) == 0 || got[len(got)-1] != "state 100" {
			t.Fatalf("the last state was not delivered last: %q", got)
		}
		if !slices.IsSorted(got) {
			t.Errorf("an older state was sent after a newer one: %q", got)
		}
		// 5 seconds of states, at most one update a second.
		if len(got) > 6 {
			t.Errorf("%d updates sent in %s, want at most one a second: %q", len(got), time.Since(start), got)
		}
		for i := 1; i < len(updates); i++ {
			if gap := updates[i].At.Sub(updates[i-1].At); gap < time.Second {
				t.Errorf("two updates %s apart, want at least the 1s interval", gap)
			}
		}
		if c := o.Counts()[bot.CallUpdate]; c.Delivered+c.Coalesced != 100 {
			t.Errorf("update counts %+v: delivered and coalesced should add up to the 100 states", c)
		}
	})
}

func TestTransientFailuresAreRetriedWithBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPlatform()
		p.fail("post", transient, transient, transient)
		o := newOutbox(p, &logBuffer{})
		start := time.Now()
		if _, err := o.Post(t.Context(), "C1", msg("hello")); err != nil {
			t.Fatalf("a message that failed three times and then went through: %v", err)
		}
		// Backoff 0.5s, 1s, 2s, each with up to a quarter more.
		if took := time.Since(start); took < 3500*time.Millisecond || took > 4375*time.Millisecond {
			t.Errorf("the retries took %s, want 3.5s to 4.4s of backoff", took)
		}
		if c := o.Counts()[bot.CallPost]; c.Delivered != 1 || c.Retried != 3 {
			t.Errorf("post counts %+v, want 1 delivered after 3 retries", c)
		}
		flush(t, o)
	})
}

func TestGivingUpAfterTheLastAttemptIsLoggedAndCounted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPlatform()
		var errs []error
		for range 3 {
			errs = append(errs, transient)
		}
		p.fail("post", errs...)
		log := &logBuffer{}
		o := newOutbox(p, log, func(o *bot.OutboxOptions) { o.Retry = bot.Retry{Attempts: 3} })
		o.Send("C1", msg("the deploy broke"))
		flush(t, o)
		if n := p.attempts("post"); n != 3 {
			t.Errorf("%d attempts, want 3", n)
		}
		if c := o.Counts()[bot.CallPost]; c.Failed != 1 || c.Retried != 2 || c.Delivered != 0 {
			t.Errorf("post counts %+v, want 1 failed after 2 retries", c)
		}
		errors := log.lines("ERROR")
		if len(errors) != 1 || !strings.Contains(errors[0], "channel=C1") || !strings.Contains(errors[0], `summary="the deploy broke"`) {
			t.Errorf("want one error line naming the channel and the message; got %q", errors)
		}
	})
}

func TestRefusalsAreNeverRetried(t *testing.T) {
	for _, tc := range []struct {
		name, call string
		send       func(o *bot.Outbox, id string)
	}{
		{"post", "post", func(o *bot.Outbox, _ string) { o.Send("C1", msg("hello")) }},
		{"update", "update", func(o *bot.Outbox, id string) { o.Update("C1", id, msg("hello again")) }},
		{"thread", "thread", func(o *bot.Outbox, _ string) { o.Send("C1", msg("long", "a", "b", "c")) }},
		{"open_dm", "open_dm", func(o *bot.Outbox, _ string) { o.SendDirect("U1", msg("psst")) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := newPlatform()
				log := &logBuffer{}
				o := newOutbox(p, log)
				id := mustPost(t, o, "C1", msg("first"))
				p.fail(tc.call, refused, refused)
				tc.send(o, id)
				flush(t, o)
				if n := p.attempts(tc.call); n != 1+boolInt(tc.call == "post") {
					t.Errorf("%s was attempted %d times after a refusal", tc.call, n-boolInt(tc.call == "post"))
				}
				if c := o.Counts()[tc.call]; c.Failed != 1 || c.Retried != 0 {
					t.Errorf("%s counts %+v, want 1 failed, none retried", tc.call, c)
				}
				if errs := log.lines("ERROR"); len(errs) != 1 || !strings.Contains(errs[0], "failure=refused") {
					t.Errorf("want one error line saying refused; got %q", errs)
				}
			})
		})
	}
}

// A person deleted a live message: the refusal is logged once, and the
// message's later states are dropped instead of each being sent and
// refused again (Discord bans clients that make too many invalid
// requests).
func TestAMessageThatIsGoneIsNotUpdatedAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPlatform()
		log := &logBuffer{}
		o := newOutbox(p, log)
		id := mustPost(t, o, "C1", msg("run 1"))
		p.fail("update", gone)
		for i := range 10 {
			o.Update("C1", id, msg(fmt.Sprintf("run 1 step %d", i)))
			time.Sleep(2 * time.Second)
		}
		flush(t, o)
		if n := p.attempts("update"); n != 1 {
			t.Errorf("a message that is gone was updated %d times", n)
		}
		if c := o.Counts()[bot.CallUpdate]; c.Failed != 10 || c.Delivered != 0 {
			t.Errorf("update counts %+v, want all 10 states failed", c)
		}
		if errs := log.lines("ERROR"); len(errs) != 1 || !strings.Contains(errs[0], "failure=gone") {
			t.Errorf("want one error line saying the message is gone; got %q", errs)
		}
		// Other messages are updated as before.
		other, err := o.Post(t.Context(), "C1", msg("run 2"))
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second)
		o.Update("C1", other, msg("run 2 done"))
		flush(t, o)
		if got := texts(p.delivered("update")); !slices.Equal(got, []string{"run 2 done"}) {
			t.Errorf("updates delivered %q, want the other message's", got)
		}
	})
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestRateLimitPausesEveryCallForItsRetryAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPlatform()
		p.fail("post", limited(5*time.Second))
		log := &logBuffer{}
		o := newOutbox(p, log)
		start := time.Now()
		done := make(chan struct{})
		go func() {
			defer close(done)
			if _, err := o.Post(t.Context(), "C1", msg("first")); err != nil {
				t.Error(err)
			}
		}()
		synctest.Wait() // the 429 arrived; the pause began
		if _, err := o.Post(t.Context(), "C2", msg("other channel")); err != nil {
			t.Fatal(err)
		}
		<-done
		for _, c := range p.delivered("post") {
			if waited := c.At.Sub(start); waited < 5*time.Second {
				t.Errorf("%q went %s after the 429, before its Retry-After of 5s", c.Text, waited)
			}
		}
		if c := o.Counts()[bot.CallPost]; c.RateLimited != 1 || c.Delivered != 2 {
			t.Errorf("post counts %+v, want 1 rate-limited, 2 delivered", c)
		}
		if w := log.lines("WARN"); len(w) != 1 || !strings.Contains(w[0], "retry_after=5s") {
			t.Errorf("want one warning with the Retry-After; got %q", w)
		}
		flush(t, o)
	})
}

// A 429 for one route (a Discord bucket) holds back that call only, for
// exactly as long as asked, fractions of a second included.
func TestARouteRateLimitHoldsOnlyItsCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPlatform()
		p.fail("post", failure{kind: bot.RateLimitedRoute, after: 300 * time.Millisecond})
		o := newOutbox(p, &logBuffer{})
		start := time.Now()
		done := make(chan struct{})
		go func() {
			defer close(done)
			if _, err := o.Post(t.Context(), "C1", msg("limited")); err != nil {
				t.Error(err)
			}
		}()
		synctest.Wait() // the 429 arrived
		if _, err := o.Post(t.Context(), "C2", msg("other route")); err != nil {
			t.Fatal(err)
		}
		<-done
		at := map[string]time.Duration{}
		for _, c := range p.delivered("post") {
			at[c.Text] = c.At.Sub(start)
		}
		if at["other route"] != 0 {
			t.Errorf("a post on another route waited %s for a route's 429", at["other route"])
		}
		if at["limited"] != 300*time.Millisecond {
			t.Errorf("the limited post went after %s, want its retry_after of 300ms", at["limited"])
		}
		if c := o.Counts()[bot.CallPost]; c.RateLimited != 1 || c.Delivered != 2 {
			t.Errorf("post counts %+v, want 1 rate-limited, 2 delivered", c)
		}
		flush(t, o)
	})
}

func TestARetriedUpdateSendsTheLatestState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPlatform()
		o := newOutbox(p, &logBuffer{})
		id := mustPost(t, o, "C1", msg("state 0"))
		p.fail("update", transient)
		time.Sleep(time.Second)
		o.Update("C1", id, msg("state 1"))
		synctest.Wait() // state 1 failed; the retry waits its backoff
		o.Update("C1", id, msg("state 2"))
		flush(t, o)
		if got := texts(p.delivered("update")); !slices.Equal(got, []string{"state 2"}) {
			t.Errorf("updates delivered %q, want only the latest state", got)
		}
	})
}

// Three live messages share a budget of 6 updates a minute: it is never
// overdrawn, every message gets its turn, and every final state lands.
func TestTheUpdateBudgetIsSharedFairly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPlatform()
		o := newOutbox(p, &logBuffer{}, func(o *bot.OutboxOptions) {
			o.UpdateBudget = bot.Budget{PerMinute: 6, Burst: 2}
		})
		ids := make([]string, 3)
		for i := range ids {
			var err error
			if ids[i], err = o.Post(t.Context(), "C1", msg(fmt.Sprintf("m%d state 000", i))); err != nil {
				t.Fatal(err)
			}
		}
		start := time.Now()
		var wg sync.WaitGroup
		for i, id := range ids {
			wg.Go(func() {
				for s := 1; s <= 300; s++ { // a state every 200ms for a minute
					time.Sleep(200 * time.Millisecond)
					o.Update("C1", id, msg(fmt.Sprintf("m%d state %03d", i, s)))
				}
			})
		}
		wg.Wait()
		flush(t, o)
		updates := p.delivered("update")
		for i, u := range updates {
			if j := i + 6; j < len(updates) && updates[j].At.Sub(u.At) < time.Minute {
				t.Fatalf("7 updates within %s: the budget of 6 a minute was overdrawn", updates[j].At.Sub(u.At))
			}
		}
		last := map[string]string{}
		for _, u := range updates {
			last[u.ID] = u.Text
		}
		for i, id := range ids {
			if want := fmt.Sprintf("m%d state 300", i); last[id] != want {
				t.Errorf("message %d shows %q, want its final state %q", i, last[id], want)
			}
		}
		// Fair: while all three wait, they take turns, so none gets more
		// than one update more than another. (Two updates may leave at the
		// same instant, so the order of the calls proves nothing.)
		per := map[string]int{}
		for _, u := range updates {
			per[u.ID]++
		}
		least, most := len(updates), 0
		for _, id := range ids {
			least, most = min(least, per[id]), max(most, per[id])
		}
		if most-least > 1 {
			t.Errorf("updates per message %v: one message went again while another waited", per)
		}
		if took := time.Since(start); took > 2*time.Minute {
			t.Errorf("the final states took until %s", took)
		}
	})
}

func TestDirectOpensTheConversationOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPlatform()
		o := newOutbox(p, &logBuffer{})
		for _, text := range []string{"one", "two"} {
			ch, _, err := o.Direct(t.Context(), "U1", msg(text))
			if err != nil {
				t.Fatal(err)
			}
			if ch != "D-U1" {
				t.Errorf("sent to %s, want D-U1", ch)
			}
		}
		o.SendDirect("U1", msg("three"))
		flush(t, o)
		if n := p.attempts("open_dm"); n != 1 {
			t.Errorf("the conversation was opened %d times, want once", n)
		}
		if got := texts(p.delivered("post")); !slices.Equal(got, []string{"one", "two", "three"}) {
			t.Errorf("direct messages delivered %q", got)
		}

		// A conversation the platform refuses is opened again next time.
		p.fail("post", refused)
		if _, _, err := o.Direct(t.Context(), "U1", msg("four")); err == nil {
			t.Fatal("a refused direct message reported as sent")
		}
		if _, _, err := o.Direct(t.Context(), "U1", msg("five")); err != nil {
			t.Fatal(err)
		}
		if n := p.attempts("open_dm"); n != 2 {
			t.Errorf("the conversation was opened %d times, want again after the refusal", n)
		}
	})
}

func TestOverflowIsThreadedOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPlatform()
		o := newOutbox(p, &logBuffer{})
		id := mustPost(t, o, "C1", msg("log", "a", "b", "c", "d", "e"))
		time.Sleep(2 * time.Second)
		o.Update("C1", id, msg("log", "a", "b", "c", "d", "e", "f", "g"))
		flush(t, o)
		if got := texts(p.delivered("thread")); !slices.Equal(got, []string{"a,b", "c,d", "e", "f,g"}) {
			t.Errorf("thread posts %q, want every line once, in order", got)
		}
	})
}

// After a restart (or once the outbox has forgotten a message), an update
// of a message whose thread this outbox did not write threads nothing
// that overflowed before it, only lines that overflow later: what is in
// the thread is not known, and posting it all again would repeat it.
func TestAnUpdateOfAMessageNotRememberedDoesNotRepeatItsThread(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPlatform()
		o := newOutbox(p, &logBuffer{})
		o.Update("C1", "m-before-restart", msg("log", "a", "b", "c", "d", "e"))
		time.Sleep(2 * time.Second)
		o.Update("C1", "m-before-restart", msg("log", "a", "b", "c", "d", "e", "f", "g"))
		flush(t, o)
		if got := texts(p.delivered("thread")); !slices.Equal(got, []string{"f,g"}) {
			t.Errorf("thread posts %q, want only the lines that overflowed after the restart", got)
		}
	})
}

// A message this outbox posted is still its own once the sweep has run
// past it: a run whose output first overflows after a quiet minute gets
// those lines in its thread, for nothing of them was ever posted. (The
// sweep used to forget a message with no thread after its interval, and
// the next update took it for one posted before a restart.)
func TestAPostedMessageThreadsItsFirstOverflowAfterTheSweep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPlatform()
		o := newOutbox(p, &logBuffer{})
		id := mustPost(t, o, "C1", msg("run 1"))
		time.Sleep(2 * time.Minute)
		// Another post sweeps, past run 1's interval.
		if _, err := o.Post(t.Context(), "C2", msg("run 2")); err != nil {
			t.Fatal(err)
		}
		o.Update("C1", id, msg("run 1", "a", "b", "c"))
		flush(t, o)
		if got := texts(p.delivered("thread")); !slices.Equal(got, []string{"a,b", "c"}) {
			t.Errorf("thread posts %q, want the lines that overflowed", got)
		}
	})
}

func TestCloseAfterAPostDoesNotWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPlatform()
		o := newOutbox(p, &logBuffer{})
		if _, err := o.Post(t.Context(), "C1", msg("hello")); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		flush(t, o)
		if took := time.Since(start); took != 0 {
			t.Errorf("Close took %s with nothing left to send", took)
		}
	})
}

func TestCloseGivesUpWhatIsLeftWhenItsContextEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPlatform()
		log := &logBuffer{}
		o := newOutbox(p, log)
		id := mustPost(t, o, "C1", msg("run 1"))
		p.fail("post", limited(time.Hour))
		o.Send("C1", msg("stuck behind an hour's rate limit"))
		o.Send("C1", msg("queued behind it"))
		o.Update("C1", id, msg("run 1 succeeded"))
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		if err := o.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Close returned %v, want the deadline", err)
		}
		// Everything left was logged: the summary line, then each message.
		errs := strings.Join(log.lines("ERROR"), "\n")
		for _, want := range []string{"given up", "stuck behind", "queued behind it", "run 1 succeeded"} {
			if !strings.Contains(errs, want) {
				t.Errorf("the log does not mention %q:\n%s", want, errs)
			}
		}
		c := o.Counts()
		if c[bot.CallPost].Failed != 2 || c[bot.CallUpdate].Failed != 1 {
			t.Errorf("counts %+v, want 2 posts and 1 update failed", c)
		}
	})
}

// A Post or Direct whose context ends while it waits for its turn returns
// the context's error, and its message is never sent: an error means the
// platform does not have the message.
func TestACallerThatGivesUpIsNeverDeliveredBehindItsBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPlatform()
		// The first message to C1, and the first to U1, hold their lanes
		// for 3.5s or more.
		p.fail("post", transient, transient, transient)
		p.fail("open_dm", transient, transient, transient)
		o := newOutbox(p, &logBuffer{})
		o.Send("C1", msg("slow"))
		o.SendDirect("U1", msg("slow too"))
		synctest.Wait()
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		if _, err := o.Post(ctx, "C1", msg("abandoned post")); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Post returned %v, want the deadline", err)
		}
		if _, _, err := o.Direct(ctx, "U1", msg("abandoned direct")); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Direct returned %v, want the deadline", err)
		}
		flush(t, o)
		for _, c := range p.delivered("post") {
			if strings.HasPrefix(c.Text, "abandoned") {
				t.Errorf("%q was delivered after its caller was told it was not", c.Text)
			}
		}
		if n := len(p.delivered("post")); n != 2 {
			t.Errorf("%d messages delivered, want the 2 slow ones", n)
		}
	})
}

// Queued is the queue's depth: what waits behind a rate limit is
// counted (messages and a pending update), the one being sent is not,
// and the depth falls to zero once the queue drained.
func TestQueuedIsTheDepthOfTheQueue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPlatform()
		o := newOutbox(p, &logBuffer{})
		if n := o.Queued(); n != 0 {
			t.Fatalf("a new outbox has %d queued, want 0", n)
		}
		id := mustPost(t, o, "C1", msg("run 1"))
		p.fail("post", limited(time.Minute))
		o.Send("C1", msg("stuck behind a minute's rate limit"))
		o.Send("C1", msg("second"))
		o.Send("C1", msg("third"))
		synctest.Wait() // the 429 arrived; the first Send waits it out
		o.Update("C1", id, msg("run 1 succeeded"))
		synctest.Wait()
		if n := o.Queued(); n != 3 {
			t.Errorf("Queued() = %d behind the rate limit, want 3 (two posts and an update; the one being sent is not queued)", n)
		}
		flush(t, o)
		if n := o.Queued(); n != 0 {
			t.Errorf("Queued() = %d once drained, want 0", n)
		}
		if got := len(p.delivered("post")); got != 4 {
			t.Errorf("%d posts delivered, want 4", got)
		}
	})
}
