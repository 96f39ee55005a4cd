package console_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/bot/console"
)

// hostile is what anyone who can type to the bot could send: a terminal
// title change, a colour, a carriage return that hides what came before,
// an 8-bit CSI, and a right-to-left override.
const hostile = "lock staging \x1b]0;pwned\x07\x1b[31mred\rgone\u009b2J\u202eevil"

func TestConsoleEscapesControlCharacters(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	c := console.New(&out, false)
	ctx := context.Background()
	m := actions.Message{Summary: hostile, Title: hostile, Text: hostile, Fields: []actions.Field{{Label: "detail", Value: hostile}},
		Lines: []string{"audit 1 — " + hostile}, Footer: hostile}
	ref, err := c.Post(ctx, "console", m)
	if err != nil {
		t.Fatal(err)
	}
	m.Lines = append(m.Lines, "second "+hostile)
	if err := c.Update(ctx, ref, m); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Direct(ctx, "bob", m); err != nil {
		t.Fatal(err)
	}
	c.Say(actions.Reply{Message: m})
	got := out.String()
	for _, r := range got {
		if r != '\n' && (r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u202e') {
			t.Fatalf("the console wrote control character %U to the terminal:\n%q", r, got)
		}
	}
	for _, want := range []string{`\x1b]0;pwned\x07`, `\x1b[31mred\rgone`, `\u009b2J`, `\u202eevil`} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks the escaped %s:\n%s", want, got)
		}
	}
}

// TestLargeRunPrintsALineASecond follows a run over 200 servers at the
// console: each update that only moves the counts is printed at most once
// a second, a failure is printed as it comes with its fault, and the end
// always is.
func TestLargeRunPrintsALineASecond(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	at := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	now := at
	c := console.New(&out, false)
	c.Now = func() time.Time { return now }
	ctx := context.Background()
	r := &actions.Run{ID: 1, Command: "provision staging", Person: "alice", State: actions.Running, Created: at, Started: at,
		Groups: []actions.StepGroup{{Name: "create", Total: 200, Done: "created", Running: "building"}}}
	ref, err := c.Post(ctx, "console", actions.RunMessage(r, now))
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	update := func() {
		if err := c.Update(ctx, ref, actions.RunMessage(r, now)); err != nil {
			t.Fatal(err)
		}
	}
	// 200 servers, each started and then ACTIVE (server 120 goes to
	// ERROR), 20 a second of the console's clock.
	for i := range 200 {
		r.Steps = append(r.Steps, actions.Step{Name: fmt.Sprintf("create staging-web-%d", i+1), Group: "create", State: actions.Running, Started: now})
		update()
		s := &r.Steps[i]
		s.State, s.Detail, s.Finished = actions.Succeeded, "ACTIVE", now
		if i == 119 {
			s.State, s.Detail = actions.Failed, "server staging-web-120 went to ERROR: No valid host was found."
		}
		update()
		now = now.Add(50 * time.Millisecond)
	}
	r.State, r.Finished = actions.Failed, now
	update()

	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	// 400 changes over 10 seconds: about ten lines, the failure and the end.
	if len(lines) > 14 {
		t.Errorf("%d lines printed for 200 servers:\n%s", len(lines), out.String())
	}
	for _, want := range []string{
		"✗ create staging-web-120 — server staging-web-120 went to ERROR: No valid host was found.",
		"~ run 1 `provision staging` by alice: failed (10s) — created 199 of 200, 1 failed",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if last := lines[len(lines)-1]; !strings.Contains(last, "failed (10s)") {
		t.Errorf("the last line is %q, want the run's end", last)
	}
}

// TestLatestSummaryIsPrintedWhenItsTimeComes checks that an update held
// back because the summary was printed a moment ago is printed once the
// moment has passed, even when no update follows: servers that stay in
// BUILD are shown as building, not as waiting.
func TestLatestSummaryIsPrintedWhenItsTimeComes(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var out bytes.Buffer
	c := console.New(lockedWriter{&mu, &out}, false)
	c.Every = 20 * time.Millisecond
	ctx := context.Background()
	ref, _ := c.Post(ctx, "console", actions.Message{Summary: "run 1: running — created 0 of 3, 3 waiting"})
	c.Update(ctx, ref, actions.Message{Summary: "run 1: running — created 0 of 3, 1 building, 2 waiting"})
	c.Update(ctx, ref, actions.Message{Summary: "run 1: running — created 0 of 3, 3 building"})
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		got := out.String()
		mu.Unlock()
		if strings.Contains(got, "~ run 1: running — created 0 of 3, 3 building\n") {
			if strings.Count(got, "~ ") != 2 {
				t.Errorf("want the first update and the latest, once each:\n%s", got)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the latest summary was never printed:\n%s", got)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// lockedWriter lets a test read what the console writes from its timers.
type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
