package health_test

import (
	"sync"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/health"
)

// escalated is c following the escalation ci-oncall.
func escalated(c health.Check) health.Check {
	c.Escalation = "ci-oncall"
	return c
}

// An acknowledgement is told to the escalation policy as soon as it is
// stored: a platform slow to take the update of the incident's message
// (a 429 with a long Retry-After) does not keep paging going.
func TestAckIsToldToEscalationBeforeTheMessagesAreUpdated(t *testing.T) {
	t.Parallel()
	tg := failingService(t)
	slow := newSlowChat()
	w := newWorldOn(t, []health.Check{escalated(httpCheck("logserver-http", tg.URL))}, slow)
	w.openIncident("incident 1")

	var acked sync.WaitGroup
	defer acked.Wait()
	defer slow.open()
	acked.Go(func() { w.Expect(w.As("bob", "ack 1"), false, "acknowledged by bob") })
	slow.waitHanging(t, "the update of incident 1's message")
	if told := w.pager.Told(); told != "opened 1\nacknowledged 1 by bob" {
		t.Errorf("while a platform holds the update, the escalation policy was told:\n%s\nwant the ack too", told)
	}
}

// infrabot is killed while the escalation policy is told of an
// acknowledgement: the ack is stored as not yet told, and told at the
// next start, once.
func TestCrashWhileEscalationHearsOfAnAckTellsItAtTheNextStart(t *testing.T) {
	t.Parallel()
	tg := failingService(t)
	checks := []health.Check{escalated(httpCheck("logserver-http", tg.URL))}
	w := newWorld(t, checks)
	w.openIncident("incident 1")

	release := w.pager.hangOn(actions.IncidentAcknowledged)
	var acked sync.WaitGroup
	defer acked.Wait()
	defer release()
	acked.Go(func() { w.As("bob", "ack 1") })
	w.pager.waitHanging(t)

	w2 := crash(w, newWorld(t, checks))
	w2.Expect(w2.As("alice", "incident 1"), false, "acknowledged by bob")
	if told := w2.pager.Told(); told != "acknowledged 1 by bob" {
		t.Errorf("after the restart the escalation policy was told %q, want the ack", told)
	}
	w2.restart()
	w2.Expect(w2.As("alice", "incidents"), false, "acknowledged by bob")
	if told := w2.pager.Told(); told != "acknowledged 1 by bob" {
		t.Errorf("after a second restart the escalation policy was told:\n%s\nwant the ack once", told)
	}
}

// The same for a recovery: the resolution is told at the next start,
// although the incident is no longer open.
func TestCrashWhileEscalationHearsOfARecoveryTellsItAtTheNextStart(t *testing.T) {
	t.Parallel()
	tg := failingService(t)
	checks := []health.Check{escalated(httpCheck("logserver-http", tg.URL))}
	w := newWorld(t, checks)
	w.openIncident("incident 1")
	tg.Failing.Store(false)
	w.step(time.Minute) // one success

	release := w.pager.hangOn(actions.IncidentResolved)
	var ran sync.WaitGroup
	defer ran.Wait()
	defer release()
	w.Clock.Advance(time.Minute)
	ran.Go(func() { w.Tick() }) // the second success resolves incident 1
	w.pager.waitHanging(t)

	w2 := crash(w, newWorld(t, checks))
	w2.Expect(w2.As("alice", "incidents"), false, "no open incidents")
	if told := w2.pager.Told(); told != "resolved 1" {
		t.Errorf("after the restart the escalation policy was told %q, want the resolution", told)
	}
	w2.restart()
	w2.Expect(w2.As("alice", "incident 1"), false, "the check recovered")
	if told := w2.pager.Told(); told != "resolved 1" {
		t.Errorf("after a second restart the escalation policy was told:\n%s\nwant the resolution once", told)
	}
}
