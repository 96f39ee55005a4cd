package actions

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Prefix is what starts a command in a channel: /infra provision staging.
const Prefix = "/infra"

// MaxCommandLen bounds what the parser looks at, in bytes; a command is
// one line.
const MaxCommandLen = 4096

// TooLong is the answer to a command of size bytes, over MaxCommandLen.
// Adapters that cannot hold a line that long whole give it themselves.
func TooLong(size int) *Error {
	return Errorf(Invalid, "that command is too long (%d bytes; the limit is %d)", size, MaxCommandLen)
}

// Command is a chat line split into its words: the command name,
// positional arguments and --flags. It is not yet checked against what the
// command accepts; see Bind.
type Command struct {
	Name  string
	Args  []string
	Flags map[string]string // --force is "true"; --reason=x is "x"
}

// Parse splits a chat line into a Command. The /infra prefix is optional
// (adapters decide whether a line without it is meant for infrabot).
// Arguments may be quoted with "double" or 'single' quotes; inside double
// quotes a backslash escapes the next character. "--flag" and
// "--flag=value" are flags, and the value may be quoted
// (--reason="db upgrade"); a quoted "--flag" is an argument; a lone "--"
// ends flags. Outside quotes a line break separates words, as a space
// does; inside them, spaces and tabs are kept and any other control
// character is refused, so that a quoted argument (a reason, say) is one
// line of plain text. Parse never panics;
// malformed input gives an *Error of kind Invalid saying what is wrong.
func Parse(line string) (Command, error) {
	if len(line) > MaxCommandLen {
		return Command{}, TooLong(len(line))
	}
	if !utf8.ValidString(line) {
		return Command{}, Errorf(Invalid, "that command is not valid UTF-8 text")
	}
	words, err := splitWords(line)
	if err != nil {
		return Command{}, err
	}
	if len(words) > 0 && words[0].text == Prefix && !words[0].quoted {
		words = words[1:]
	}
	if len(words) == 0 {
		return Command{}, Errorf(Invalid, "no command given; type `help` to see what you can do")
	}
	cmd := Command{Name: strings.ToLower(words[0].text), Flags: map[string]string{}}
	if words[0].quoted || strings.HasPrefix(cmd.Name, "-") {
		return Command{}, Errorf(Invalid, "a command starts with its name, like `help` or `status staging`")
	}
	flagsDone := false
	for _, w := range words[1:] {
		if w.quoted && !w.quotedValue() || flagsDone || !strings.HasPrefix(w.text, "--") {
			cmd.Args = append(cmd.Args, w.text)
			continue
		}
		if w.text == "--" {
			flagsDone = true
			continue
		}
		name, value, hasValue := strings.Cut(w.text[2:], "=")
		name = strings.ToLower(name)
		if !validFlagName(name) {
			return Command{}, Errorf(Invalid, "%q is not a valid flag; flags look like --force or --reason=text", w.text)
		}
		if !hasValue {
			value = "true"
		}
		if _, dup := cmd.Flags[name]; dup {
			return Command{}, Errorf(Invalid, "flag --%s is given twice", name)
		}
		cmd.Flags[name] = value
	}
	return cmd, nil
}

func validFlagName(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

type word struct {
	text   string
	quoted bool
	// quoteAt is where in text the first quote opened, when quoted.
	quoteAt int
}

// quotedValue reports whether only the part after the word's first "="
// was quoted: --reason="db upgrade" is a flag with a quoted value.
func (w word) quotedValue() bool {
	eq := strings.IndexByte(w.text, '=')
	return eq >= 0 && eq < w.quoteAt
}

// controlChar is the answer to a command holding a control character.
func controlChar() *Error {
	return Errorf(Invalid, "the command holds a control character; type it on one line of plain text")
}

// splitWords splits on white space, honouring quotes.
func splitWords(s string) ([]word, error) {
	var (
		words   []word
		cur     strings.Builder
		inWord  bool
		quoted  bool
		quote   rune
		escaped bool
		quoteAt int
	)
	for _, r := range s {
		switch {
		case (quote != 0 || escaped) && unicode.IsControl(r) && r != '\t':
			// Quotes keep white space as typed, but not a control
			// character: a command is one line of plain text. A tab is
			// white space outside quotes, and kept inside them.
			return nil, controlChar()
		case escaped:
			cur.WriteRune(r)
			escaped = false
		case quote != 0:
			switch {
			case r == quote:
				quote = 0
			case r == '\\' && quote == '"':
				escaped = true
			default:
				cur.WriteRune(r)
			}
		case r == '"' || r == '\'' || r == '“' || r == '”' || r == '‘' || r == '’':
			// Chat clients turn straight quotes into curly ones.
			if !quoted {
				quoteAt = cur.Len()
			}
			quote, inWord, quoted = closingQuote(r), true, true
		case unicode.IsSpace(r):
			if inWord {
				words = append(words, word{cur.String(), quoted, quoteAt})
				cur.Reset()
				inWord, quoted = false, false
			}
		case unicode.IsControl(r):
			return nil, controlChar()
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 || escaped {
		return nil, Errorf(Invalid, "a quote is not closed; close it or leave it out")
	}
	if inWord {
		words = append(words, word{cur.String(), quoted, quoteAt})
	}
	return words, nil
}

func closingQuote(r rune) rune {
	switch r {
	case '“', '”':
		return '”'
	case '‘', '’':
		return '’'
	}
	return r
}

// HasPrefix reports whether line starts with the /infra prefix, the way
// adapters tell a command from ordinary chat in a shared channel.
func HasPrefix(line string) bool {
	line = strings.TrimSpace(line)
	return line == Prefix || strings.HasPrefix(line, Prefix+" ") || strings.HasPrefix(line, Prefix+"\t")
}
