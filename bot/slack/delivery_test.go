package slack_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/bot"
	islack "github.com/infrabot/infrabot/bot/slack"
	"github.com/infrabot/infrabot/bot/slack/slacktest"
)

// Twenty runs show live progress at once (a step every 2s for a minute)
// in a workspace that allows 50 chat.update a minute, as Slack's Tier 3
// does. Within the default budget no update draws a 429 and updates are
// spread evenly, each message in turn; with a budget
// set too high, every 429's Retry-After is honoured (no call comes back
// before it is up: no 429 loop). Either way every run's final state is
// delivered, every run showed progress before it, and the queue drains
// well within the 30s infrabot gives it at shutdown.
func TestTwentyLiveRunsShareTheWorkspaceUpdateLimit(t *testing.T) {
	for _, tc := range []struct {
		name    string
		budget  bot.Budget
		max429s int
		// steady: updates are spread over the minute, never more than 10s
		// apart, rather than 50 at once and then a minute of silence.
		steady bool
	}{
		{"within the default budget", bot.Budget{}, 0, true},
		{"with a budget set too high", bot.Budget{PerMinute: 120, Burst: 10}, -1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := slacktest.NewServer(t, botToken)
			fake.LimitUpdates(50, time.Minute)
			var counts map[string]bot.Counts
			var drained time.Duration
			synctest.Test(t, func(t *testing.T) {
				a, err := islack.New(islack.Options{
					BotToken: botToken, APIURL: fake.APIURL(), HTTPClient: fake.Client(),
					Router: &countingRouter{}, UpdateBudget: tc.budget,
				})
				if err != nil {
					t.Fatal(err)
				}
				var wg sync.WaitGroup
				for i := 1; i <= 20; i++ {
					wg.Go(func() { liveRun(t, a, i) })
				}
				wg.Wait()
				finished := time.Now()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
				defer cancel()
				if err := a.Close(ctx); err != nil {
					t.Fatal(err)
				}
				drained = time.Since(finished)
				counts = a.Deliveries()
			})

			calls := fake.Calls()
			var ok, limited int
			var last time.Time
			for i, c := range calls {
				if c.Method != "chat.update" {
					continue
				}
				if c.Status == http.StatusOK {
					ok++
					if tc.steady && !last.IsZero() && c.At.Sub(last) > 10*time.Second {
						t.Errorf("no message was updated for %s", c.At.Sub(last))
					}
					last = c.At
					continue
				}
				limited++
				for _, later := range calls[i+1:] {
					if later.At.After(c.At) && later.At.Before(c.At.Add(c.RetryAfter)) {
						t.Fatalf("a %s came %s after a 429 that asked to wait %s", later.Method, later.At.Sub(c.At), c.RetryAfter)
					}
				}
			}
			if tc.max429s >= 0 && limited > tc.max429s {
				t.Errorf("%d chat.update calls drew a 429, want at most %d", limited, tc.max429s)
			}
			for i := 1; i <= 20; i++ {
				m := runMessage(t, fake, i)
				if got := text(m); !strings.Contains(got, "succeeded") || !strings.Contains(got, "step 30") {
					t.Errorf("run %d shows an older state:\n%s", i, got)
				}
				if m.Updates < 2 {
					t.Errorf("run %d was updated %d times: no progress shown before its final state", i, m.Updates)
				}
			}
			if drained > 30*time.Second {
				t.Errorf("the queue took %s to drain after the runs ended", drained)
			}
			u := counts[bot.CallUpdate]
			t.Logf("620 states: %d chat.update delivered, %d coalesced, %d answered 429; drained %s after the last state", u.Delivered, u.Coalesced, limited, drained)
			if u.Delivered != int64(ok) || u.Failed != 0 || u.RateLimited != int64(limited) {
				t.Errorf("counts %+v disagree with what Slack saw (%d delivered, %d limited)", u, ok, limited)
			}
		})
	}
}

// liveRun is run i's progress message: posted, updated at each of 30
// steps 2s apart, and finally marked succeeded.
func liveRun(t *testing.T, a *islack.Adapter, i int) {
	ctx := context.Background()
	title := fmt.Sprintf("run %d: deploy staging", i)
	ref, err := a.Post(ctx, infra, actions.Message{Title: title, Summary: title, Text: "running"})
	if err != nil {
		t.Error(err)
		return
	}
	var lines []string
	for s := 1; s <= 30; s++ {
		time.Sleep(2 * time.Second)
		lines = append(lines, fmt.Sprintf("✓ step %d", s))
		if err := a.Update(ctx, ref, actions.Message{Title: title, Summary: title, Text: "running", Lines: lines}); err != nil {
			t.Error(err)
		}
	}
	if err := a.Update(ctx, ref, actions.Message{Title: title, Summary: title, Text: "succeeded", Tone: actions.ToneSuccess, Lines: lines}); err != nil {
		t.Error(err)
	}
}

func runMessage(t *testing.T, fake *slacktest.Server, i int) slacktest.Message {
	t.Helper()
	title := fmt.Sprintf("== run %d: deploy staging ==", i)
	for _, m := range fake.Messages(infra) {
		if strings.HasPrefix(m.Text, title) {
			return m
		}
	}
	t.Fatalf("run %d's message was never posted", i)
	return slacktest.Message{}
}
