package slack_test

import (
	"context"
	"testing"
	"time"

	islack "github.com/infrabot/infrabot/bot/slack"
)

const appToken = "xapp-1-A0INFRABOT-1-test-not-a-real-token"

// newSocketWorld is the world with infrabot reading Slack over Socket
// Mode, connected to the fake before it returns.
func newSocketWorld(t *testing.T) *world {
	t.Helper()
	w := newWorld(t, func(o *islack.Options) { o.AppToken = appToken })
	w.fake.EnableSocketMode(appToken)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- w.adapter.RunSocket(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("RunSocket ended with %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("RunSocket did not return after its context ended")
		}
	})
	w.fake.WaitFor(t, "infrabot connecting over Socket Mode", func() bool { return w.fake.OpenSockets() > 0 })
	return w
}

func TestSocketModeAcksAndRunsACommand(t *testing.T) {
	t.Parallel()
	w := newSocketWorld(t)
	id := w.fake.Push(t, w.fake.CommandEnvelope(alice, infra, "whoami"))
	w.fake.WaitAck(t, id)
	w.expectMessage(infra, "alice")
	w.settle()
	if bad := w.fake.BadFrames(); len(bad) > 0 {
		t.Errorf("infrabot sent frames that are not acks: %q", bad)
	}
}
