// Package console is the local chat: every line on its input is a message
// from the current person, and replies and progress go to its output. It
// is for trying infrabot out, for scripts and for end-to-end tests.
package console

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/bot"
)

// Platform is the console's platform name.
const Platform = "console"

// Console is a chat on a pair of streams. It implements actions.Chat:
// a posted message is printed whole, an update prints the lines that
// changed.
type Console struct {
	mu     sync.Mutex
	out    io.Writer
	nextID int
	last   map[string][]string // what each message showed last
}

// New returns a console writing to out.
func New(out io.Writer) *Console {
	return &Console{out: out, last: map[string][]string{}}
}

// Post prints m and returns its reference.
func (c *Console) Post(ctx context.Context, channel string, m actions.Message) (actions.MessageRef, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nextID++
	id := strconv.Itoa(c.nextID)
	c.last[id] = snapshot(m)
	_, err := c.write(prefixLines(prefix(channel), bot.Text(m)))
	return actions.MessageRef{Platform: Platform, Channel: channel, ID: id}, err
}

// prefix is what starts each line of a message to channel: "[#NAME] " for
// a named channel ("#NAME"), "[dm NAME] " for a direct message ("@NAME"),
// nothing for the console's own conversation.
func prefix(channel string) string {
	switch {
	case strings.HasPrefix(channel, "#"):
		return "[" + channel + "] "
	case strings.HasPrefix(channel, "@"):
		return "[dm " + channel[1:] + "] "
	}
	return ""
}

// Direct prints m as a direct message to the person called userID (at the
// console a person's id is their config name), each line prefixed
// "[dm NAME]".
func (c *Console) Direct(ctx context.Context, userID string, m actions.Message) (actions.MessageRef, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nextID++
	id := strconv.Itoa(c.nextID)
	c.last[id] = snapshot(m)
	_, err := c.write(prefixLines(prefix("@"+userID), bot.Text(m)))
	return actions.MessageRef{Platform: Platform, Channel: "@" + userID, ID: id}, err
}

// prefixLines puts prefix before every line of text.
func prefixLines(prefix, text string) string {
	if prefix == "" || text == "" {
		return text
	}
	lines := strings.SplitAfter(text, "\n")
	var b strings.Builder
	for _, l := range lines {
		if l != "" {
			b.WriteString(prefix)
			b.WriteString(l)
		}
	}
	return b.String()
}

// Update prints the message's summary and the lines that changed since it
// was last shown; an update that changes nothing prints nothing.
func (c *Console) Update(ctx context.Context, ref actions.MessageRef, m actions.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := snapshot(m)
	before := c.last[ref.ID]
	if slices.Equal(now, before) {
		return nil
	}
	c.last[ref.ID] = now
	var b strings.Builder
	fmt.Fprintf(&b, "~ %s\n", m.Summary)
	for _, l := range m.Lines {
		if !slices.Contains(before, l) {
			fmt.Fprintf(&b, "    %s\n", l)
		}
	}
	_, err := c.write(prefixLines(prefix(ref.Channel), b.String()))
	return err
}

// write is the console's one way to its terminal: control characters in
// what people typed or a remote system said are shown escaped. c.mu is
// held.
func (c *Console) write(s string) (int, error) {
	return io.WriteString(c.out, bot.Terminal(s))
}

func snapshot(m actions.Message) []string {
	return append([]string{m.Summary}, m.Lines...)
}

// OneScreen reports that the console shows every channel and direct
// message on one screen.
func (c *Console) OneScreen() bool { return true }

// Say prints a reply to the person at the console.
func (c *Console) Say(r actions.Reply) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.write(bot.Text(r.Message))
}

// Printf prints a line of the console's own.
func (c *Console) Printf(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.write(fmt.Sprintf(format, args...))
}

// Session reads lines from in as person, one command a line, until in
// ends or ctx is done. "/as NAME" switches the person speaking. prompt,
// when true, shows who is speaking before each line (for a terminal).
func (c *Console) Session(ctx context.Context, r *bot.Router, in io.Reader, person string, prompt bool) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64*1024), 64*1024)
	for {
		if prompt {
			c.Printf("%s> ", person)
		}
		if !sc.Scan() {
			return sc.Err()
		}
		if ctx.Err() != nil {
			return nil
		}
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
			continue
		case line == "/quit" || line == "/exit":
			return nil
		case strings.HasPrefix(line, "/as"):
			name := strings.TrimSpace(strings.TrimPrefix(line, "/as"))
			if name == "" || strings.ContainsAny(name, " \t") {
				c.Printf("usage: /as NAME\n")
				continue
			}
			person = name
			if _, known := r.Engine.Policy().Person(name); !known {
				c.Printf("(now speaking as %s, whom the config does not know)\n", name)
			} else {
				c.Printf("(now speaking as %s)\n", name)
			}
			continue
		}
		if !prompt {
			c.Printf("%s> %s\n", person, line)
		}
		if reply, ok := r.Handle(ctx, bot.Incoming{Platform: Platform, Person: person, Channel: "console", Text: line, Direct: true, Private: true}); ok {
			c.Say(reply)
		}
	}
}
