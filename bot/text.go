package bot

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/infrabot/infrabot/actions"
)

// Text renders a message as plain text, for the console and for the
// fallback text of rich messages.
func Text(m actions.Message) string {
	var b strings.Builder
	line := func(s string) {
		if s != "" {
			b.WriteString(s)
			b.WriteByte('\n')
		}
	}
	if m.Title != "" {
		line("== " + m.Title + " ==")
	}
	text := m.Text
	if text == "" {
		text = m.Summary
	}
	line(joinNonEmpty(Mentions(m.Mentions), text))
	for _, f := range m.Fields {
		line(fmt.Sprintf("  %s: %s", f.Label, f.Value))
	}
	for _, l := range m.Lines {
		line("    " + l)
	}
	for _, l := range m.Links {
		line(fmt.Sprintf("  %s: %s", l.Label, l.URL))
	}
	if len(m.Buttons) > 0 {
		var bs []string
		for _, btn := range m.Buttons {
			bs = append(bs, fmt.Sprintf("[%s: %s]", btn.Label, btn.Command))
		}
		line("  " + strings.Join(bs, " "))
	}
	line(m.Footer)
	return b.String()
}

// Mentions renders mentions as plain text: "@bob @alice".
func Mentions(ms []actions.Mention) string {
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = "@" + m.Person
	}
	return strings.Join(parts, " ")
}

func joinNonEmpty(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + " " + b
}

// SafeURL reports whether u may be shown as a link: an absolute http or
// https URL with a host and nothing that would break a platform's link
// syntax (spaces, angle brackets, a pipe, control characters).
func SafeURL(u string) bool {
	parsed, err := url.Parse(u)
	if err != nil || (parsed.Scheme != "http" && parsed.Scheme != "https") || parsed.Host == "" {
		return false
	}
	return !strings.ContainsFunc(u, func(r rune) bool {
		return r <= ' ' || r == 0x7f || r == '<' || r == '>' || r == '|' || r == '(' || r == ')'
	})
}
