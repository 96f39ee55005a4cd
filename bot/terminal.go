package bot

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Terminal makes s safe to write to a terminal: control characters (C0
// but newline and tab, DEL, C1), bidirectional overrides and bytes that
// are not UTF-8 are written as Go escapes (\x1b, \r, \u009b, \u202e), so that
// nobody who can type to the bot can retitle, recolour or rewrite an
// admin's terminal. Where exact bytes matter (the audit record's hash)
// they are kept; only what is shown is escaped.
func Terminal(s string) string {
	if !needsEscape(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n' || r == '\t':
			b.WriteRune(r)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x80 && unicode.IsControl(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case unicode.IsControl(r) || bidi(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func needsEscape(s string) bool {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || (r != '\n' && r != '\t' && unicode.IsControl(r)) || bidi(r) {
			return true
		}
		i += size
	}
	return false
}

// bidi reports whether r changes the direction text is shown in (the
// "Trojan Source" characters).
func bidi(r rune) bool {
	return (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) || r == 0x200e || r == 0x200f || r == 0x061c
}
