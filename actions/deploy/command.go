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
// after a here-document), since single quotes there would not protect,
// and references where bash evaluates even a quoted word as an arithmetic
// expression or a variable name, whose subscript a[$(cmd)] runs cmd:
// inside $(( )), $[ ], (( )), [[ ]], ${ }, an array subscript or array
// assignment, in the arguments of let, eval, trap, declare, typeset,
// local, read, unset, wait, mapfile and readarray, after test's -v and as
// printf -v's name. It also refuses references after a NAME=( … ) that
// bash cannot parse, since bash goes on at the next line, which may be in
// a value.
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
			return nil, fmt.Errorf("{{ .%s }} stands %s, where quoting cannot protect its value: put parameters outside quotes, backquotes, comments and here-documents (infrabot quotes them), and outside what bash evaluates (see docs/deploy.md)", name, why)
		}
		c.parts = append(c.parts, part{lit: lit}, part{param: name})
		lx.ref()
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
// enough to tell whether a point in it is plain unquoted text, and bash's
// grammar far enough to tell whether bash would evaluate a word there (as
// an arithmetic expression or a variable name) rather than take it as
// it is. A $( … ) inside double quotes it reads as plain text, back in
// the quotes at its end. Where it cannot be sure (a ${ … } inside double
// quotes, or a `…` there holding quotes, whose nested quotes it does not
// follow), it says so, and no reference may come after. A construct it
// sees open and never sees closed leaves every later reference refused.
// So does a NAME=( … ) holding a ; & | < > or a bare (: bash reports
// the syntax error and carries on at the next line, which may be inside a
// value's quotes.
type shellLexer struct {
	state     lexState
	escaped   bool // the previous character was an unquoted backslash
	wordStart bool // the next character starts a word
	started   bool
	heredoc   bool // a << was seen
	unsure    bool
	broken    bool // a NAME=( … ) bash would not parse was seen
	prev      byte

	cmd    simpleCommand
	frames []frame       // the constructs open around the current point
	fresh  bool          // the previous character opened a parenthesis
	amp    simpleCommand // the command before a &, in case it was &>
	cases  caseState
}

// caseState is where the lexer stands in case … esac statements, whose
// patterns end with a ) that closes nothing.
type caseState struct {
	open    int  // case … in read, esac not yet
	pattern bool // a pattern is read next
}

// simpleCommand is the command being read: its name once known, and its
// arguments so far.
type simpleCommand struct {
	name   string // "" while the next word is still its name
	prefix bool   // after command, builtin or time, which run the next word
	word   []byte // the current word, quotes removed
	inWord bool
	args   int    // arguments read
	prev   string // the last argument read
}

type lexState int

const (
	plain lexState = iota
	single
	double
	backquote
	comment
	dqBackquote // `…` inside double quotes
)

// refMark stands for a reference in a word, subMark for a substitution
// or expansion: neither is ever in a command line (NUL is refused).
const (
	refMark = 0
	subMark = 1
)

type frame struct {
	kind    frameKind
	outer   simpleCommand // the command it stands in
	dollar  bool          // $( … ), $(( … )): part of the outer word
	quoted  bool          // a $( … ) inside double quotes, which its end reopens
	closing bool          // an arithmetic (( … )) has seen one )
	cases   caseState     // the case statements open outside it
}

type frameKind int

const (
	paren     frameKind = iota // ( … ), $( … ) or <( … )
	arith                      // (( … )) or $(( … ))
	bracket                    // $[ … ]
	brace                      // ${ … }
	dbracket                   // [[ … ]]
	subscript                  // NAME[ … ]= at the start of a command
	array                      // NAME=( … ), also as an argument
	element                    // [ … ]= at the start of a word in NAME=( … )
)

// why says what bash makes of a word inside a frame of kind k, or "" when
// it is plain shell text.
func (k frameKind) why() string {
	switch k {
	case arith:
		return "inside (( … )) or $(( … )), whose words bash evaluates as an arithmetic expression"
	case bracket:
		return "inside $[ … ], whose words bash evaluates as an arithmetic expression"
	case brace:
		return "inside ${ … }, where bash evaluates subscripts and offsets as arithmetic expressions"
	case dbracket:
		return "inside [[ … ]], whose -eq, -lt and -v operands bash evaluates as arithmetic expressions or variable names (use [ … ])"
	case subscript:
		return "in an array subscript NAME[ … ], which bash evaluates as an arithmetic expression"
	case array, element:
		return "inside an array assignment NAME=( … ), whose [subscripts] bash evaluates as arithmetic expressions"
	}
	return ""
}

// evaluating are the builtins that evaluate their arguments as commands,
// arithmetic expressions or variable names (whose subscripts are
// arithmetic expressions): a quoted value is no protection there.
var evaluating = map[string]string{
	"let":       "arithmetic expressions",
	"eval":      "commands",
	"trap":      "commands",
	"declare":   "assignments to integer variables, name references and array subscripts",
	"typeset":   "assignments to integer variables, name references and array subscripts",
	"local":     "assignments to integer variables, name references and array subscripts",
	"read":      "variable names, whose subscripts are arithmetic expressions",
	"unset":     "variable names, whose subscripts are arithmetic expressions",
	"wait":      "variable names (-p), whose subscripts are arithmetic expressions",
	"mapfile":   "commands (-C) and variable names",
	"readarray": "commands (-C) and variable names",
}

// reserved are the words after which the next word is still a command's
// name.
var reserved = map[string]bool{"if": true, "then": true, "else": true, "elif": true, "do": true,
	"while": true, "until": true, "!": true, "{": true, "}": true}

var assignment = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\[[^]]*\])?\+?=`)

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (lx *shellLexer) feed(s string) {
	if !lx.started {
		lx.started, lx.wordStart = true, true
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		fresh, escaped := lx.fresh, lx.escaped
		lx.fresh = false
		switch lx.state {
		case plain:
			lx.plain(ch, fresh)
		case single:
			if ch == '\'' {
				lx.state = plain
			} else {
				lx.addWord(ch)
			}
		case double:
			switch {
			case lx.escaped:
				lx.escaped = false
				lx.addWord(ch)
			case ch == '\\':
				lx.escaped = true
			case ch == '"':
				lx.state = plain
			case ch == '`':
				lx.state = dqBackquote
			case lx.prev == '$' && ch == '(':
				// $( … ) or $(( … )) is read as in plain text.
				lx.push(paren)
				lx.top().dollar, lx.top().quoted = true, true
				lx.state, lx.wordStart, lx.fresh = plain, true, true
			case lx.prev == '$' && ch == '{':
				lx.unsure = true
			default:
				lx.addWord(ch)
			}
		case backquote:
			switch {
			case lx.escaped:
				lx.escaped = false
			case ch == '\\':
				lx.escaped = true
			case ch == '`':
				lx.state = plain
				lx.addWord(subMark)
			}
		case dqBackquote:
			switch {
			case ch == '"' || ch == '\'':
				// Shells differ on quotes in a `…` in double quotes.
				lx.unsure = true
			case lx.escaped:
				lx.escaped = false
			case ch == '\\':
				lx.escaped = true
			case ch == '`':
				lx.state = double
				lx.addWord(subMark)
			}
		case comment:
			if ch == '\n' {
				lx.state, lx.wordStart = plain, true
				lx.separate(ch)
			}
		}
		switch {
		case lx.escaped, escaped:
			// A backslash pairs with the next character only, and
			// that character is literal: neither opens anything.
			lx.prev = 0
		case ch == '$' && lx.prev == '$':
			// $$ is the shell's pid: a ( or { after it is literal.
			lx.prev = 0
		default:
			lx.prev = ch
		}
	}
}

// plain reads ch in unquoted text; fresh says whether the character
// before it opened a parenthesis.
func (lx *shellLexer) plain(ch byte, fresh bool) {
	top := lx.top()
	if top != nil && top.kind == array && !lx.escaped && lx.compoundError(ch) {
		lx.broken = true
	}
	switch {
	case lx.escaped:
		lx.escaped = false
		lx.wordStart = false
		lx.addWord(ch)
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
		lx.cmd.inWord = true
	case ch == '"':
		lx.state = double
		lx.wordStart = false
		lx.cmd.inWord = true
	case ch == '`':
		lx.state = backquote
		lx.wordStart = false
	case ch == '#' && lx.wordStart:
		lx.state = comment
	case ch == '<' && lx.prev == '<':
		lx.heredoc = true
		lx.wordStart = true
	case ch == '(' && lx.cases.pattern && lx.wordStart:
		// case x in (pattern)
	case ch == '(':
		lx.wordStart = true
		switch {
		case lx.prev == '$' || lx.prev == '<' || lx.prev == '>':
			// $( … ), or a process substitution <( … ): part of a word.
			lx.push(paren)
			lx.top().dollar = true
			lx.fresh = true
		case lx.prev == '(' && fresh:
			top.kind = arith
		case (top == nil || top.kind != dbracket) && assignment.Match(lx.cmd.word) && lx.cmd.word[len(lx.cmd.word)-1] == '=':
			// Also an argument: readonly -a x=( … ), export, and
			// whatever else takes assignments; but in [[ … ]] a
			// regex such as state=(up|ready) is no array.
			lx.push(array)
		default:
			lx.endWord()
			lx.push(paren)
			lx.fresh = true
		}
	case ch == ')':
		lx.wordStart = true
		lx.endWord()
		switch {
		case lx.cases.pattern || top == nil:
			// A case pattern's: a command follows.
			lx.cases.pattern = false
			lx.cmd = simpleCommand{}
		case top.kind == arith && !top.closing:
			top.closing = true
		case top.kind == arith, top.kind == paren, top.kind == array:
			lx.pop()
		}
	case ch == '{' && (lx.prev == '$' || top != nil && top.kind == brace):
		lx.wordStart = false
		lx.push(brace)
	case ch == '}' && top != nil && top.kind == brace:
		lx.pop()
	case ch == '[' && (lx.prev == '$' || top != nil && top.kind == bracket):
		lx.wordStart = false
		lx.push(bracket)
	case ch == '[' && lx.cmd.name == "" && identifier.Match(lx.cmd.word),
		ch == '[' && top != nil && top.kind == subscript:
		// bash counts the brackets nested in a subscript.
		lx.addWord(ch)
		lx.push(subscript)
	case ch == '[' && top != nil && (top.kind == element || top.kind == array && lx.wordStart):
		// In NAME=( … ), [ … ] starts a word, and a ) in it closes
		// nothing.
		lx.wordStart = false
		lx.addWord(ch)
		lx.push(element)
	case ch == ']' && top != nil && (top.kind == bracket || top.kind == subscript || top.kind == element):
		lx.pop()
		lx.addWord(ch)
	case strings.IndexByte(" \t\n;&|<>", ch) >= 0:
		lx.wordStart = true
		lx.endWord()
		lx.separate(ch)
	default:
		lx.wordStart = false
		lx.addWord(ch)
	}
}

// separate ends the simple command at a ; & | or newline, but not at the
// & of >& or the | of >|, nor inside [[ … ]] or NAME=( … ).
func (lx *shellLexer) separate(ch byte) {
	if top := lx.top(); top != nil && (top.kind == dbracket || top.kind == array) {
		return
	}
	switch {
	case ch == '>' && lx.prev == '&':
		// &> redirects; the command goes on.
		lx.cmd = lx.amp
	case (ch == '&' || ch == '|') && (lx.prev == '>' || lx.prev == '<'):
	case ch == '&':
		lx.amp = lx.cmd
		lx.cmd = simpleCommand{}
	case ch == ';' || ch == '|' || ch == '\n':
		lx.cmd = simpleCommand{}
	}
	if lx.cases.open > 0 && lx.prev == ';' && (ch == ';' || ch == '&') {
		// ;; ;& ;;& end a case's commands: a pattern follows.
		lx.cases.pattern = true
	}
}

// compoundError says whether bash takes unquoted ch in NAME=( … ) as a
// syntax error: its words may not hold an operator (; & | < >, but for the
// < and > of a process substitution <( … )) nor a ( that does not start a
// substitution.
func (lx *shellLexer) compoundError(ch byte) bool {
	switch {
	case ch == '(':
		return lx.prev != '$' && lx.prev != '<' && lx.prev != '>'
	case lx.prev == '<' || lx.prev == '>':
		return true
	}
	return strings.IndexByte(";&|", ch) >= 0
}

func (lx *shellLexer) addWord(ch byte) {
	lx.cmd.word = append(lx.cmd.word, ch)
	lx.cmd.inWord = true
}

// ref reads a reference: its value becomes one single-quoted word,
// unquoted text again, but no longer at the start of a word.
func (lx *shellLexer) ref() {
	lx.addWord(refMark)
	lx.wordStart, lx.prev = false, '\''
}

// endWord ends the current word, if any: the command's name, or one of
// its arguments.
func (lx *shellLexer) endWord() {
	c := &lx.cmd
	if !c.inWord {
		return
	}
	w := string(c.word)
	c.word, c.inWord = nil, false
	if top := lx.top(); top != nil && top.kind == dbracket && w == "]]" {
		lx.pop()
		return
	}
	switch {
	case w == "esac" && lx.cases.open > 0 && (c.name == "" || lx.cases.pattern):
		lx.cases = caseState{open: lx.cases.open - 1}
		*c = simpleCommand{}
		return
	case c.name == "case" && c.args == 1 && w == "in":
		lx.cases = caseState{open: lx.cases.open + 1, pattern: true}
	}
	switch {
	case c.name != "" && w != "{":
		c.args++
		c.prev = w
	case reserved[w], assignment.MatchString(w), c.prefix && strings.HasPrefix(w, "-"):
		// The next word is still the name; a { also starts a command
		// where it ends a function's definition (function f {).
		*c = simpleCommand{prefix: c.prefix}
	case w == "command", w == "builtin", w == "time":
		c.prefix = true
	case w == "[[":
		lx.push(dbracket)
		lx.cmd = simpleCommand{name: w}
	default:
		c.name = w
	}
}

func (lx *shellLexer) top() *frame {
	if len(lx.frames) == 0 {
		return nil
	}
	return &lx.frames[len(lx.frames)-1]
}

// push opens a frame of kind k. A parenthesis starts a command in it;
// other frames hold no command.
func (lx *shellLexer) push(k frameKind) {
	outer := lx.cmd
	outer.word = append([]byte(nil), outer.word...)
	lx.frames = append(lx.frames, frame{kind: k, outer: outer, cases: lx.cases})
	lx.cmd, lx.cases = simpleCommand{}, caseState{}
	if k != paren {
		lx.cmd.name = "("
	}
}

// pop closes the innermost frame: a subshell's end is where a command
// may follow; a substitution or expansion goes on being part of the word
// it stands in.
func (lx *shellLexer) pop() {
	f := lx.frames[len(lx.frames)-1]
	lx.frames = lx.frames[:len(lx.frames)-1]
	lx.cases = f.cases
	switch {
	case f.kind == paren && !f.dollar:
		lx.cmd = simpleCommand{}
	case f.kind == dbracket:
		lx.cmd = simpleCommand{name: "[["}
	default:
		lx.cmd = f.outer
		lx.addWord(subMark)
	}
	if f.quoted {
		lx.state, lx.wordStart = double, false
	}
}

// unsafe says why the current point is not plain unquoted text that bash
// takes as it is, or "".
func (lx *shellLexer) unsafe() string {
	switch {
	case lx.unsure:
		return "after a ${ … }, or a `…` holding quotes, inside double quotes, or after a $'…' string"
	case lx.broken:
		return "after an array assignment NAME=( … ) holding an unquoted ; & | < > or (, a syntax error after which bash goes on at the next line, which may be inside a value"
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
	case lx.state == backquote, lx.state == dqBackquote:
		return "inside backquotes"
	case lx.state == comment:
		return "in a comment"
	}
	for i := len(lx.frames) - 1; i >= 0; i-- {
		if why := lx.frames[i].kind.why(); why != "" {
			return why
		}
	}
	// Within $( … ), the output becomes part of the outer command's
	// word: let x=$(echo {{ .n }}) is as dangerous as let x={{ .n }}.
	if why := lx.cmd.evaluates(); why != "" {
		return why
	}
	for i := len(lx.frames) - 1; i >= 0; i-- {
		if why := lx.frames[i].outer.evaluates(); why != "" {
			return why
		}
	}
	return ""
}

// evaluates says whether bash evaluates the current word of c as more
// than a word, or "".
func (c *simpleCommand) evaluates() string {
	if what, ok := evaluating[c.name]; ok {
		return fmt.Sprintf("in the arguments of %s, which bash evaluates as %s", c.name, what)
	}
	// A reference may itself be -v.
	afterV := c.prev == "-v" || strings.IndexByte(c.prev, refMark) >= 0
	switch {
	case (c.name == "[" || c.name == "test") && afterV:
		return "after test's -v, whose operand bash evaluates as a variable name, subscript included"
	case c.name == "printf" && c.args == 1 && afterV:
		return "as printf -v's variable name, whose subscript bash evaluates as an arithmetic expression"
	}
	return ""
}
