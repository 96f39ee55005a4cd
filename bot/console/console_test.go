package console_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

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
