package bot

import (
	"fmt"
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
	if m.Text != "" {
		line(m.Text)
	} else {
		line(m.Summary)
	}
	for _, f := range m.Fields {
		line(fmt.Sprintf("  %s: %s", f.Label, f.Value))
	}
	for _, l := range m.Lines {
		line("    " + l)
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
