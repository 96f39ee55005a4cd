package console_test

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/actionstest"
	"github.com/infrabot/infrabot/bot"
	"github.com/infrabot/infrabot/bot/console"
	"github.com/infrabot/infrabot/storage"
)

func router(t *testing.T) *bot.Router {
	t.Helper()
	db, err := storage.Open(filepath.Join(t.TempDir(), "infrabot.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := actions.NewEngine(actions.Options{
		Policy: actions.NewPolicy([]*actions.Person{{Name: "alice"}, {Name: "bob"}}, nil, nil),
		Runs:   db, Locks: db, Audit: db,
	})
	t.Cleanup(e.Close)
	return &bot.Router{Engine: e}
}

// TestPipedSessionReadsLikeATerminal checks the echo after the prompt,
// /as (and that /asbob is not it), and that a line of any length is
// answered and the session goes on.
func TestPipedSessionReadsLikeATerminal(t *testing.T) {
	t.Parallel()
	var out actionstest.Buffer
	c := console.New(&out, false)
	in := strings.NewReader("whoami\n/asbob\n/as bob\n" + strings.Repeat("x", 100*1024) + "\nwhoami\n")
	if err := c.Session(context.Background(), router(t), in, "alice"); err != nil {
		t.Fatal(err)
	}
	want := "alice> whoami\nyou are alice; roles: none\n" +
		"  person: alice\n  roles: none\n  may use: only help and whoami\n" +
		"alice> /asbob\nthere is no command `/asbob`; type `help` for the list\n" +
		"alice> /as bob\n(now speaking as bob)\n" +
		"bob> " + strings.Repeat("x", 200) + "… (102400 bytes)\nthat command is too long (102400 bytes; the limit is 4096)\n" +
		"bob> whoami\nyou are bob; roles: none\n  person: bob\n  roles: none\n  may use: only help and whoami\n"
	if got := out.String(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

// TestTerminalPromptMakesWayForOutput checks that, on a terminal, a
// message arriving while the prompt waits takes the prompt's line and the
// prompt comes back under it.
func TestTerminalPromptMakesWayForOutput(t *testing.T) {
	t.Parallel()
	var out actionstest.Buffer
	c := console.New(&out, true)
	r := router(t)
	pr, pw := io.Pipe()
	done := make(chan error)
	go func() { done <- c.Session(context.Background(), r, pr, "alice") }()
	waitFor(t, &out, "alice> ")
	c.Post(context.Background(), "console", actions.Message{Summary: "run 1 `x` by bob: succeeded (1s)"})
	waitFor(t, &out, "alice> \r\x1b[Krun 1 `x` by bob: succeeded (1s)\nalice> ")
	pw.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "alice> \r\x1b[Krun 1 `x` by bob: succeeded (1s)\nalice> \n" {
		t.Errorf("got %q", got)
	}
}

// waitFor waits until out holds s.
func waitFor(t *testing.T, out *actionstest.Buffer, s string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("output lacks %q: %q", s, out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}
