package pagerduty

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// A summary is cut at the last character boundary before n, however long
// its characters, and a stray invalid byte early on does not cost it the
// rest of its text.
func TestCutKeepsWholeCharacters(t *testing.T) {
	for _, s := range []string{
		strings.Repeat("é", 700),
		strings.Repeat("a", 3) + "\xff" + strings.Repeat("b", 2000),
		strings.Repeat("日本", 400),
	} {
		got := cut(s, 1024)
		if len(got) > 1024 || len(got) < 1024-len("…")-3 || !strings.HasSuffix(got, "…") {
			t.Errorf("cut to %d bytes: %q…", len(got), got[:min(20, len(got))])
		}
		if body := strings.TrimSuffix(got, "…"); !strings.HasPrefix(s, body) || (utf8.ValidString(s) && !utf8.ValidString(body)) {
			t.Errorf("cut split a character or changed the text: %q…", body[max(0, len(body)-10):])
		}
	}
}
