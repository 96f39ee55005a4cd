package deploy

import (
	"fmt"
	"regexp"
	"strings"
)

// Command is a step's command line with its parameter references, such as
// "ansible-playbook site.yml -e ref={{ .ref }}". A parameter's value is
// put in single quotes where it stands, so that the shell on the host
// takes it as one literal word: what someone types in chat is never
// interpreted by the shell. ParseCommand refuses references it cannot
// prove are outside any quoting (inside quotes, backquotes, a comment, or
// after a here-document), since single quotes there would not protect.
type Command struct {
	text  string
	parts []part
}

type part struct {
	lit   string
	param string // a reference when not ""
}

// placeholder is a parameter reference. Other uses of {{ }} (Ansible's
// Jinja, "{{ item }}") are left as they are.
var placeholder = regexp.MustCompile(`\{\{\s*\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}`)

// ParseCommand parses a step's command line.
func ParseCommand(text string) (*Command, error) {
	if strings.ContainsRune(text, 0) {
		return nil, fmt.Errorf("the command holds a NUL byte")
	}
	c := &Command{text: text}
	var lx shellLexer
	last := 0
	for _, m := range placeholder.FindAllStringSubmatchIndex(text, -1) {
		lit := text[last:m[0]]
		lx.feed(lit)
		name := text[m[2]:m[3]]
		if why := lx.unsafe(); why != "" {
			return nil, fmt.Errorf("{{ .%s }} stands %s, where quoting cannot protect its value: put parameters outside quotes, backquotes, comments and here-documents (infrabot quotes them)", name, why)
		}
		c.parts = append(c.parts, part{lit: lit}, part{param: name})
		// The value becomes one single-quoted word: unquoted text again,
		// but no longer at the start of a word.
		lx.wordStart, lx.prev = false, '\''
		last = m[1]
	}
	c.parts = append(c.parts, part{lit: text[last:]})
	return c, nil
}

// String returns the command as written, references unexpanded.
func (c *Command) String() string { return c.text }

// Params returns the names of the parameters the command refers to, in
// order of first use.
func (c *Command) Params() []string {
	var names []string
	seen := map[string]bool{}
	for _, p := range c.parts {
		if p.param != "" && !seen[p.param] {
			seen[p.param] = true
			names = append(names, p.param)
		}
	}
	return names
}

// Expand returns the command line with every reference replaced by its
// value, quoted. A reference without a value is an error.
func (c *Command) Expand(values map[string]string) (string, error) {
	var b strings.Builder
	for _, p := range c.parts {
		if p.param == "" {
			b.WriteString(p.lit)
			continue
		}
		v, ok := values[p.param]
		if !ok {
			return "", fmt.Errorf("no value for parameter %s", p.param)
		}
		if strings.ContainsRune(v, 0) {
			return "", fmt.Errorf("the value of %s holds a NUL byte", p.param)
		}
		b.WriteString(Quote(v))
	}
	return b.String(), nil
}

// Quote returns s as one single-quoted shell word: POSIX shells take
// everything between single quotes literally, so the only character to
// handle is the single quote itself: the quote is closed, an escaped
// quote written, and the quote opened again.
func Quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// shellLexer follows a POSIX shell's quoting through a command line far
// enough to tell whether a point in it is plain unquoted text. Where it
// cannot be sure (a command substitution or parameter expansion inside
// double quotes, whose nested quotes it does not follow), it says so, and
// no reference may come after.
type shellLexer struct {
	state     lexState
	escaped   bool // the previous character was an unquoted backslash
	wordStart bool // the next character starts a word
	started   bool
	heredoc   bool // a << was seen
	unsure    bool
	prev      byte
}

type lexState int

const (
	plain lexState = iota
	single
	double
	backquote
	comment
)

func (lx *shellLexer) feed(s string) {
	if !lx.started {
		lx.started, lx.wordStart = true, true
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch lx.state {
		case plain:
			switch {
			case lx.escaped:
				lx.escaped = false
				lx.wordStart = false
			case ch == '\\':
				lx.escaped = true
				lx.wordStart = false
			case ch == '\'' && lx.prev == '$':
				// bash's $'…' takes backslash escapes, dash's does not:
				// the two would end the quote in different places.
				lx.state = single
				lx.unsure = true
			case ch == '\'':
				lx.state = single
				lx.wordStart = false
			case ch == '"':
				lx.state = double
				lx.wordStart = false
			case ch == '`':
				lx.state = backquote
				lx.wordStart = false
			case ch == '#' && lx.wordStart:
				lx.state = comment
			case ch == '<' && lx.prev == '<':
				lx.heredoc = true
				lx.wordStart = true
			case strings.IndexByte(" \t\n;&|()<>", ch) >= 0:
				lx.wordStart = true
			default:
				lx.wordStart = false
			}
		case single:
			if ch == '\'' {
				lx.state = plain
			}
		case double:
			switch {
			case lx.escaped:
				lx.escaped = false
			case ch == '\\':
				lx.escaped = true
			case ch == '"':
				lx.state = plain
			case ch == '`', lx.prev == '$' && (ch == '(' || ch == '{'):
				lx.unsure = true
			}
		case backquote:
			switch {
			case lx.escaped:
				lx.escaped = false
			case ch == '\\':
				lx.escaped = true
			case ch == '`':
				lx.state = plain
			}
		case comment:
			if ch == '\n' {
				lx.state, lx.wordStart = plain, true
			}
		}
		lx.prev = ch
		if lx.escaped {
			// A backslash pairs with the next character only.
			lx.prev = 0
		}
	}
}

// unsafe says why the current point is not plain unquoted text, or "".
func (lx *shellLexer) unsafe() string {
	switch {
	case lx.unsure:
		return "after a command substitution or expansion inside double quotes, or a $'…' string"
	case lx.heredoc:
		return "after a here-document (<<)"
	case lx.escaped:
		return "after a backslash"
	case lx.state == plain && lx.prev == '$':
		return "right after a $"
	case lx.state == single:
		return "inside single quotes"
	case lx.state == double:
		return "inside double quotes"
	case lx.state == backquote:
		return "inside backquotes"
	case lx.state == comment:
		return "in a comment"
	}
	return ""
}
