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
	"time"
	"unicode/utf8"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/bot"
)

// Platform is the console's platform name.
const Platform = "console"

// Console is a chat on a pair of streams. It implements actions.Chat:
// a posted message is printed whole, an update prints its summary and the
// lines that changed — the summary alone at most once per UpdateEvery.
//
// What a command causes is printed after its reply, whether it happens
// while the command is handled or later: the reply, then the run's
// header, then its progress. On a terminal the prompt is taken away while
// other output is printed and shown again after it, so progress never
// lands after a half-typed line; with piped input each line is echoed
// after the prompt instead, so that both read the same.
type Console struct {
	// Now is the console's clock; nil is time.Now.
	Now func() time.Time
	// Every is how often an update that changes only a message's summary
	// is printed; 0 is UpdateEvery.
	Every time.Duration

	mu       sync.Mutex
	out      io.Writer
	terminal bool
	nextID   int
	last     map[string][]string  // what each message showed last
	printed  map[string]time.Time // when each message's update was last printed
	// pending are the messages whose latest update waits to be printed.
	pending map[string]actions.Message

	prompt  string          // the prompt on screen, "" when none
	holding bool            // a command is being handled: keep output back
	held    strings.Builder // output kept back until the reply is printed
}

// UpdateEvery is how often, by default, an update that changes only a
// message's summary — a run's counts and elapsed time as its servers come
// up — is printed: a run over hundreds of servers prints a line a second,
// not a line each time one of them changes.
const UpdateEvery = time.Second

// New returns a console writing to out. terminal says that a person types
// at it: a prompt is shown, and input is not echoed (the terminal does).
func New(out io.Writer, terminal bool) *Console {
	return &Console{out: out, terminal: terminal, last: map[string][]string{}}
}

// write is the console's one way to its output: it prints s, or keeps it
// back while a command is being handled. Control characters in what
// people typed or a remote system said are shown escaped. The caller
// holds c.mu.
func (c *Console) write(s string) error {
	if s == "" {
		return nil
	}
	s = bot.Terminal(s)
	if c.holding {
		c.held.WriteString(s)
		return nil
	}
	if c.prompt != "" {
		// Take the prompt away, print, and show it again.
		s = "\r\033[K" + s + c.prompt
	}
	_, err := io.WriteString(c.out, s)
	return err
}

// Post prints m and returns its reference.
func (c *Console) Post(ctx context.Context, channel string, m actions.Message) (actions.MessageRef, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nextID++
	id := strconv.Itoa(c.nextID)
	c.last[id] = snapshot(m)
	err := c.write(prefixLines(prefix(channel), bot.Text(m)))
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
	err := c.write(prefixLines(prefix("@"+userID), bot.Text(m)))
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
// was last shown; an update that changes nothing prints nothing, and one
// that changes only the summary (a run's counts, its elapsed time) at most
// once per UpdateEvery: the latest such state is printed when the time is
// up, unless a later update is printed first. An update that changes the
// message's lines or its tone (a failure, a note, the run's end) is
// printed at once.
func (c *Console) Update(ctx context.Context, ref actions.MessageRef, m actions.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := snapshot(m)
	before := c.last[ref.ID]
	if slices.Equal(now, before) {
		delete(c.pending, ref.ID)
		return nil
	}
	at := c.clock()
	every := c.Every
	if every <= 0 {
		every = UpdateEvery
	}
	if since := at.Sub(c.printed[ref.ID]); since < every && len(before) > 0 && now[0] == before[0] && !slices.ContainsFunc(m.Lines, func(l string) bool { return !slices.Contains(before, l) }) {
		c.later(ref, m, every-since)
		return nil
	}
	return c.show(ref, m, at)
}

// show prints an update of the message ref points to: its summary and
// the lines it did not show before. c.mu is held.
func (c *Console) show(ref actions.MessageRef, m actions.Message, at time.Time) error {
	before := c.last[ref.ID]
	if c.printed == nil {
		c.printed = map[string]time.Time{}
	}
	c.last[ref.ID], c.printed[ref.ID] = snapshot(m), at
	delete(c.pending, ref.ID)
	var b strings.Builder
	fmt.Fprintf(&b, "~ %s\n", m.Summary)
	for _, l := range m.Lines {
		if !slices.Contains(before, l) {
			fmt.Fprintf(&b, "    %s\n", l)
		}
	}
	return c.write(prefixLines(prefix(ref.Channel), b.String()))
}

// later keeps m, the latest state of the message ref points to, to be
// printed after wait. c.mu is held.
func (c *Console) later(ref actions.MessageRef, m actions.Message, wait time.Duration) {
	if c.pending == nil {
		c.pending = map[string]actions.Message{}
	}
	_, waiting := c.pending[ref.ID]
	c.pending[ref.ID] = m
	if waiting {
		return
	}
	time.AfterFunc(wait, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if m, ok := c.pending[ref.ID]; ok {
			c.show(ref, m, c.clock())
		}
	})
}

// clock is the console's time: Now, or time.Now.
func (c *Console) clock() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// snapshot is what a message shows for the console to compare: its tone,
// its summary and its lines.
func snapshot(m actions.Message) []string {
	return append([]string{"tone " + string(m.Tone), m.Summary}, m.Lines...)
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

// hold keeps output back until the reply to the command being handled
// is printed.
func (c *Console) hold() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.holding = true
}

// reply prints the reply to a command, then what was kept back meanwhile.
func (c *Console) reply(text string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.holding = false
	held := c.held.String()
	c.held.Reset()
	c.write(text + held)
}

// showPrompt shows who is speaking, on a terminal.
func (c *Console) showPrompt(person string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.terminal {
		return
	}
	c.prompt = bot.Terminal(person) + "> "
	io.WriteString(c.out, c.prompt)
}

// leavePrompt ends the prompt's line, when one is shown, as the session
// ends.
func (c *Console) leavePrompt() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.prompt != "" {
		io.WriteString(c.out, "\n")
		c.prompt = ""
	}
}

// typed notes that a line was read: on a terminal the prompt has become
// part of it; otherwise the line is echoed after the prompt, as a person
// at a terminal would have seen it.
func (c *Console) typed(person string, l line) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.terminal {
		c.prompt = ""
		return
	}
	text := l.text
	if l.size > maxEcho {
		cut := maxEcho
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		text = fmt.Sprintf("%s… (%d bytes)", text[:cut], l.size)
	}
	c.write(person + "> " + text + "\n")
}

const (
	// maxKept is how much of one input line is kept. A longer line is
	// read to its end and answered as too long, and the session goes on.
	maxKept = 64 * 1024
	// maxEcho is how much of a line is echoed with piped input.
	maxEcho = 200
)

// line is one line of input: its text, cut to maxKept bytes, and its size.
type line struct {
	text string
	size int
}

// readLines sends each line of in to lines, whatever its length, and
// closes lines at the end of in.
func readLines(in io.Reader, lines chan<- line, done <-chan struct{}) {
	defer close(lines)
	br := bufio.NewReaderSize(in, 16*1024)
	for {
		var buf []byte
		size := 0
		for {
			frag, more, err := br.ReadLine()
			if err != nil {
				if size == 0 {
					return
				}
				break
			}
			size += len(frag)
			if keep := maxKept - len(buf); keep > 0 {
				buf = append(buf, frag[:min(len(frag), keep)]...)
			}
			if !more {
				break
			}
		}
		select {
		case lines <- line{text: string(buf), size: size}:
		case <-done:
			return
		}
	}
}

// Session reads lines from in as person, one command a line, until in
// ends, "/quit", or ctx is done, which stops it at once, also while it
// waits for a line. "/as NAME" switches the person speaking.
func (c *Console) Session(ctx context.Context, r *bot.Router, in io.Reader, person string) error {
	lines := make(chan line)
	done := make(chan struct{})
	defer close(done)
	go readLines(in, lines, done)
	for {
		c.showPrompt(person)
		var l line
		var ok bool
		select {
		case <-ctx.Done():
		case l, ok = <-lines:
		}
		if !ok {
			c.leavePrompt()
			return nil
		}
		text := strings.TrimSpace(l.text)
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		c.typed(person, line{text: text, size: l.size - (len(l.text) - len(text))})
		words := strings.Fields(text)
		switch {
		case l.size > len(l.text):
			c.reply(bot.Text(actions.Message{Summary: actions.ErrorMessage(actions.TooLong(l.size))}))
			continue
		case text == "/quit" || text == "/exit":
			return nil
		case words[0] == "/as":
			if len(words) != 2 {
				c.Printf("usage: /as NAME\n")
				continue
			}
			person = words[1]
			if _, known := r.Engine.Policy().Person(person); !known {
				c.Printf("(now speaking as %s, whom the config does not know)\n", person)
			} else {
				c.Printf("(now speaking as %s)\n", person)
			}
			continue
		}
		c.hold()
		reply, ok := r.Handle(ctx, bot.Incoming{Platform: Platform, Person: person, UserID: person, Channel: "console", Text: text, Direct: true, Private: true})
		if !ok {
			reply = actions.Reply{}
		}
		c.reply(bot.Text(reply.Message))
	}
}
