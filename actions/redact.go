package actions

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// Redacted is what a secret value is replaced with.
const Redacted = "[redacted]"

// minSecret is the shortest value the redactor replaces: a shorter one
// would blank out ordinary words and is no secret worth the name.
const minSecret = 4

// Redactor knows every secret value infrabot resolved from its config
// and removes them from text: every error text from a remote system, log
// line, chat message, run record and audit record passes through one.
// A remote system may echo a secret in its own encoding, so each value is
// also matched URL-escaped and JSON-escaped (once or twice: a request body
// quoted in a JSON error). A config reload teaches it the new values
// (Learn), and everything holding it redacts them from then on. The zero
// value and nil redact nothing.
type Redactor struct {
	r atomic.Pointer[redaction]

	mu      sync.Mutex // serialises Learn
	secrets []string   // every value learnt, for the next rebuild
}

// minSecretLine is the shortest line of a multi-line secret the
// redactor replaces on its own.
const minSecretLine = 8

// NewRedactor returns a redactor for secrets. A secret spanning several
// lines (a private key) is also redacted line by line, since remote
// output reaches the redactor one line at a time.
func NewRedactor(secrets ...string) *Redactor {
	r := &Redactor{}
	r.Learn(secrets...)
	return r
}

// Learn adds secrets to those r redacts, for every holder of r at once:
// a reload that rotates a password adds the new one. The values r knew
// stay redacted (the old password may still be quoted by what was under
// way), so a redactor only ever learns.
func (r *Redactor) Learn(secrets ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range secrets {
		if !slices.Contains(r.secrets, s) {
			r.secrets = append(r.secrets, s)
		}
	}
	r.r.Store(replacer(r.secrets))
}

// redaction is what a redactor replaces: every spelling of every secret
// (forms), and the replacer of them all.
type redaction struct {
	forms []string
	rep   *strings.Replacer
}

// replace returns s with every form replaced. Most text holds none: it is
// returned as it is, without building a copy.
func (d *redaction) replace(s string) string {
	for _, f := range d.forms {
		if strings.Contains(s, f) {
			return d.rep.Replace(s)
		}
	}
	return s
}

// replacer replaces every spelling of every secret, or is nil when there
// is nothing worth replacing.
func replacer(secrets []string) *redaction {
	seen := map[string]bool{}
	var forms []string
	var all []string
	for _, s := range secrets {
		all = append(all, s)
		if !strings.Contains(s, "\n") {
			continue
		}
		for _, l := range strings.Split(s, "\n") {
			if l = strings.TrimRight(l, "\r"); len(l) >= minSecretLine {
				all = append(all, l)
			}
		}
	}
	for _, s := range all {
		if len(s) < minSecret {
			continue
		}
		for _, f := range spellings(s) {
			if !seen[f] {
				seen[f] = true
				forms = append(forms, f)
			}
		}
	}
	if len(forms) == 0 {
		return nil
	}
	// Longest first: a secret that contains another is replaced whole.
	sort.Slice(forms, func(i, j int) bool { return len(forms[i]) > len(forms[j]) })
	pairs := make([]string, 0, 2*len(forms))
	for _, f := range forms {
		pairs = append(pairs, f, Redacted)
	}
	return &redaction{forms: forms, rep: strings.NewReplacer(pairs...)}
}

// replacer returns what r replaces now, nil for nothing.
func (r *Redactor) replacer() *redaction {
	if r == nil {
		return nil
	}
	return r.r.Load()
}

// spellings are the ways a remote system may quote secret back: as is,
// URL-escaped, and inside a JSON string, once or twice (a request body
// echoed in a JSON error body), with or without HTML escapes.
func spellings(secret string) []string {
	out := []string{secret, url.QueryEscape(secret), url.PathEscape(secret)}
	for _, once := range []string{jsonString(secret, true), jsonString(secret, false)} {
		out = append(out, once, jsonString(once, true), jsonString(once, false))
	}
	return out
}

// jsonString is s as it appears inside a JSON string, with or without
// the HTML escapes (\u0026 for &) Go's encoder adds by default.
func jsonString(s string, html bool) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(html)
	enc.Encode(s)
	out := strings.TrimSuffix(b.String(), "\n")
	return out[1 : len(out)-1]
}

// String returns s without any secret.
func (r *Redactor) String(s string) string {
	if d := r.replacer(); d != nil {
		return d.replace(s)
	}
	return s
}

// Message returns m without any secret in its text.
func (r *Redactor) Message(m Message) Message {
	if r.replacer() == nil {
		return m
	}
	m.Summary, m.Title, m.Text, m.Footer = r.String(m.Summary), r.String(m.Title), r.String(m.Text), r.String(m.Footer)
	if m.Fields != nil {
		fields := make([]Field, len(m.Fields))
		for i, f := range m.Fields {
			fields[i] = Field{Label: r.String(f.Label), Value: r.String(f.Value)}
		}
		m.Fields = fields
	}
	if m.Lines != nil {
		lines := make([]string, len(m.Lines))
		for i, l := range m.Lines {
			lines[i] = r.String(l)
		}
		m.Lines = lines
	}
	// A link's URL may carry a token (a CI log URL with a query
	// string), and a button shows its label and sends its command.
	if m.Links != nil {
		links := make([]Link, len(m.Links))
		for i, l := range m.Links {
			links[i] = Link{Label: r.String(l.Label), URL: r.String(l.URL)}
		}
		m.Links = links
	}
	if m.Buttons != nil {
		buttons := make([]Button, len(m.Buttons))
		for i, b := range m.Buttons {
			buttons[i] = Button{Label: r.String(b.Label), Command: r.String(b.Command), Style: b.Style}
		}
		m.Buttons = buttons
	}
	return m
}

// Handler wraps h so that no secret reaches the log: the message and
// every attribute (errors and other values by their text) are redacted,
// with the values r knows when the line is logged.
func (r *Redactor) Handler(h slog.Handler) slog.Handler {
	if r == nil {
		return h
	}
	if rh, ok := h.(redactingHandler); ok && rh.r == r {
		return h
	}
	return redactingHandler{h: h, r: r}
}

type redactingHandler struct {
	h slog.Handler
	r *Redactor
}

func (h redactingHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.h.Enabled(ctx, l) }

func (h redactingHandler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, h.r.String(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.h.Handle(ctx, out)
}

func (h redactingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		red[i] = h.attr(a)
	}
	return redactingHandler{h: h.h.WithAttrs(red), r: h.r}
}

func (h redactingHandler) WithGroup(name string) slog.Handler {
	return redactingHandler{h: h.h.WithGroup(name), r: h.r}
}

func (h redactingHandler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.r.String(v.String()))
	case slog.KindGroup:
		group := v.Group()
		red := make([]any, len(group))
		for i, g := range group {
			red[i] = h.attr(g)
		}
		return slog.Group(a.Key, red...)
	case slog.KindAny:
		text := fmt.Sprint(v.Any())
		if red := h.r.String(text); red != text {
			return slog.String(a.Key, red)
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}

// redactingChat is a Chat whose every message passes the engine's
// redactor.
type redactingChat struct {
	Chat
	r *Redactor
}

func (c redactingChat) Post(ctx context.Context, channel string, m Message) (MessageRef, error) {
	return c.Chat.Post(ctx, channel, c.r.Message(m))
}

func (c redactingChat) Direct(ctx context.Context, userID string, m Message) (MessageRef, error) {
	return c.Chat.Direct(ctx, userID, c.r.Message(m))
}

func (c redactingChat) Update(ctx context.Context, ref MessageRef, m Message) error {
	return c.Chat.Update(ctx, ref, c.r.Message(m))
}

// OneScreen passes on whether the wrapped chat shows everything on one
// screen (see OneScreen).
func (c redactingChat) OneScreen() bool {
	one, ok := c.Chat.(OneScreen)
	return ok && one.OneScreen()
}
