package oncall_test

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/actionstest"
	"github.com/infrabot/infrabot/actions/oncall"
	"github.com/infrabot/infrabot/actions/pagerduty"
	"github.com/infrabot/infrabot/actions/pagerduty/pagerdutytest"
	"github.com/infrabot/infrabot/storage"
)

// hangingChat is a second platform whose direct messages (or updates)
// hang until released, as a 429 with a long Retry-After or a slow API
// holds them.
type hangingChat struct {
	otherChat
	direct, update bool          // which calls hang
	entered        chan struct{} // one value when a call first hangs
	release        chan struct{} // closed by the test
}

// newHangingChat returns a hanging chat; the test defers its release,
// so that the world's cleanup, which waits for the pages, can end.
func newHangingChat(direct, update bool) *hangingChat {
	return &hangingChat{direct: direct, update: update, entered: make(chan struct{}, 1), release: make(chan struct{})}
}

func (c *hangingChat) hang() {
	select {
	case c.entered <- struct{}{}:
	default:
	}
	<-c.release
}

func (c *hangingChat) Direct(ctx context.Context, userID string, m actions.Message) (actions.MessageRef, error) {
	if c.direct {
		c.hang()
	}
	return c.otherChat.Direct(ctx, userID, m)
}

func (c *hangingChat) Update(ctx context.Context, ref actions.MessageRef, m actions.Message) error {
	if c.update {
		c.hang()
	}
	return c.otherChat.Update(ctx, ref, m)
}

// waitHanging waits until a call hangs on c.
func (c *hangingChat) waitHanging(t *testing.T, what string) {
	t.Helper()
	select {
	case <-c.entered:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s never reached the hanging platform", what)
	}
}

// pdWorldOnTwoPlatforms is pdWorld with bob also on a second platform,
// chat (none when nil).
func pdWorldOnTwoPlatforms(t *testing.T, chat actions.Chat) (*world, *pagerdutytest.Server) {
	t.Helper()
	fake := pagerdutytest.NewServer(t, routingKey)
	pd, err := pagerduty.New(pagerduty.Options{URL: fake.URL(), RoutingKey: routingKey})
	if err != nil {
		t.Fatal(err)
	}
	esc := issueEscalation()
	esc.Levels[0].Notify = append(esc.Levels[0].Notify, oncall.Target{Kind: oncall.ToPagerDuty, Name: "ci"})
	w := newWorldTB(t, []oncall.Escalation{esc}, oncall.Options{Pagers: map[string]oncall.Pager{"pagerduty:ci": pd}}, func(w *world) {
		w.policy = peopleOnTwoPlatforms
		if chat != nil {
			w.chats = map[string]actions.Chat{otherPlatform: chat}
		}
	})
	return w, fake
}

// crash is a kill -9 of w now: it returns next (a fresh world) started
// on a copy of w's store as it is on disk, at w's time. w goes on, but
// nothing it does from now on is seen by next.
func crash(w *world, next *world) *world {
	w.T.Helper()
	path := filepath.Join(w.T.TempDir(), "crashed.db")
	if err := w.DB.Backup(path); err != nil {
		w.T.Fatal(err)
	}
	next.stop()
	next.Close()
	next.Path, next.Clock = path, actionstest.NewClock(w.Clock.Now())
	next.Open()
	return next
}

// infrabot is killed while bob's page hangs on his second platform and
// PagerDuty has not taken the trigger (it answered 500): the first level
// is stored as paged, so the next start does not page it again, but its
// PagerDuty trigger was queued with it and goes out, and the audit log
// says the level was paged.
func TestCrashWhileChatPagesGoOutKeepsTheLevelsPagerDutyTrigger(t *testing.T) {
	t.Parallel()
	other := newHangingChat(true, false)
	defer close(other.release)
	w, down := pdWorldOnTwoPlatforms(t, other)
	down.Answer(http.StatusInternalServerError)
	w.step(time.Minute)
	w.Clock.Advance(time.Minute) // two failures: the incident opens
	w.Tick()
	w.health.Wait()
	other.waitHanging(t, "bob's page")

	fresh, fake := pdWorldOnTwoPlatforms(t, nil)
	w2 := crash(w, fresh)
	w2.step(5 * time.Second)
	if got, want := eventsOf(fake.Taken()), "trigger infrabot-incident-1"; got != want {
		t.Errorf("after the restart PagerDuty took %q, want %q", got, want)
	}
	if a := w2.Audited(); !strings.Contains(a, "infrabot incident-paged incident 1: paging level 1 of ci-oncall: bob (schedule:ci-oncall), pagerduty:ci (queued)") {
		t.Errorf("the level stored as paged is not audited:\n%s", a)
	}
	w2.None("dm:UBOB", "page for you: incident 1") // stored as paged: not paged again
	w2.step(14 * time.Minute)
	w2.None("dm:UALICE", "incident 1")
	w2.step(time.Minute) // the next level counts from the first
	w2.One("dm:UALICE", "page for you: incident 1")
}

// infrabot is killed while bob's ack updates his page on his second
// platform: the acknowledge for PagerDuty was queued with the ack, and
// goes out at the next start.
func TestCrashWhilePagesAreUpdatedKeepsPagerDutyAcknowledge(t *testing.T) {
	t.Parallel()
	other := newHangingChat(false, true)
	defer close(other.release)
	w, fake := pdWorldOnTwoPlatforms(t, other)
	w.step(time.Minute)
	w.step(time.Minute)
	if got, want := eventsOf(fake.Taken()), "trigger infrabot-incident-1"; got != want {
		t.Fatalf("PagerDuty took %q, want %q", got, want)
	}
	w.Expect(w.As("bob", "ack 1"), false, "acknowledged by bob")
	other.waitHanging(t, "the update of bob's page")

	fresh, fake2 := pdWorldOnTwoPlatforms(t, nil)
	w2 := crash(w, fresh)
	w2.step(5 * time.Second)
	if got, want := eventsOf(fake2.Taken()), "acknowledge infrabot-incident-1"; got != want {
		t.Errorf("after the restart PagerDuty took %q, want %q", got, want)
	}
	w2.step(time.Hour)
	w2.None("dm:UALICE", "incident 1") // acknowledged: nobody more
}

// IncidentChanged stores an opened incident's escalation before it
// returns (the health module marks the incident escalated right after):
// while the store cannot take a write, it waits.
func TestIncidentOpenedIsStoredBeforeItReturns(t *testing.T) {
	t.Parallel()
	w := newWorld(t, []oncall.Escalation{issueEscalation()}, oncall.Options{})
	// Another module holds the store's one writer, as a slow fsync would.
	other, err := w.DB.ModuleStore("slow-writer", []string{"x"})
	if err != nil {
		t.Fatal(err)
	}
	holding, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	letGo := func() { once.Do(func() { close(release) }) }
	t.Cleanup(letGo)
	go other.Update(context.Background(), func(actions.Tx) error {
		close(holding)
		<-release
		return nil
	})
	<-holding

	returned := make(chan struct{})
	go func() {
		w.oncall.IncidentChanged(context.Background(), actions.IncidentEvent{
			Change: actions.IncidentOpened, ID: 77, Check: "logserver-http", Escalation: "ci-oncall",
			Summary: "incident 77", Time: w.Clock.Now(),
		})
		close(returned)
	}()
	select {
	case <-returned: // without waiting for the store: what it left is checked below
	case <-time.After(500 * time.Millisecond):
		letGo() // it waits for the store, as it should
		<-returned
	}
	// kill -9 as soon as it returned.
	path := filepath.Join(t.TempDir(), "crashed.db")
	if err := w.DB.Backup(path); err != nil {
		t.Fatal(err)
	}
	letGo()

	db, err := storage.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st, err := db.ModuleStore(oncall.Name, oncall.Buckets)
	if err != nil {
		t.Fatal(err)
	}
	stored := 0
	if err := st.View(context.Background(), func(tx actions.Tx) error {
		return tx.Bucket("escalations").ForEach(func(k, v []byte) error { stored++; return nil })
	}); err != nil {
		t.Fatal(err)
	}
	if stored != 1 {
		t.Errorf("IncidentChanged returned with %d escalations stored, want incident 77's", stored)
	}
}

// A level's PagerDuty trigger goes out while its chat pages are still
// going out: a platform holding bob's page (a 429 with a long
// Retry-After) does not hold up PagerDuty's.
func TestPagerDutyIsNotHeldUpByAHangingChat(t *testing.T) {
	t.Parallel()
	other := newHangingChat(true, false)
	defer close(other.release)
	w, fake := pdWorldOnTwoPlatforms(t, other)
	w.step(time.Minute)
	w.Clock.Advance(time.Minute) // two failures: the incident opens
	w.Tick()
	w.health.Wait()
	other.waitHanging(t, "bob's page")
	fake.WaitFor(t, "the trigger while bob's page hangs", func() bool { return eventsOf(fake.Taken()) == "trigger infrabot-incident-1" })
}
