package slack

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/bot"
)

// Block Kit limits (https://api.slack.com/reference/block-kit/blocks),
// kept a little under Slack's so that escaping cannot push a block over.
const (
	maxHeader      = 150
	maxSectionText = 2900
	maxFieldText   = 1900
	maxFields      = 10
	// maxFieldSections bounds the sections of fields: a message shows at
	// most maxFieldSections*maxFields fields and counts the rest, so
	// that it never nears Slack's 50 blocks.
	maxFieldSections = 2
	maxButtons       = 25
	maxButtonValue   = 2000
	maxButtonLabel   = 75
	maxFallback      = 3900
	// maxCodeBlocks bounds how many preformatted sections one message
	// shows; what does not fit goes to the message's thread.
	maxCodeBlocks = 4
)

// ButtonPrefix starts the action_id of every button infrabot renders, so
// that clicks on other apps' buttons are never taken for commands.
const ButtonPrefix = "infrabot-"

var toneEmoji = map[actions.Tone]string{
	actions.ToneSuccess: ":white_check_mark: ",
	actions.ToneWarning: ":warning: ",
	actions.ToneDanger:  ":x: ",
}

// rendered is a message ready for Slack: its blocks, its fallback text
// (notifications, screen readers) and the preformatted lines that did not
// fit and belong in a thread reply.
type rendered struct {
	Blocks   []slack.Block
	Fallback string
	Overflow []string
}

// Render returns the Block Kit blocks a message is shown as. Golden tests
// use it, here and in the modules that compose messages (digest).
func Render(m actions.Message) []slack.Block { return render(m).Blocks }

// render turns a neutral message into Block Kit blocks. A message without
// buttons has no actions block, so updating a decided approval request
// takes its buttons away.
func render(m actions.Message) rendered {
	var blocks []slack.Block
	emoji := toneEmoji[m.Tone]
	if m.Title != "" {
		blocks = append(blocks, slack.NewHeaderBlock(plain(truncate(m.Title, maxHeader))))
	}
	// The text, or else the summary: a run's state, a status's count and
	// a plan's totals are said there and in no field.
	text := m.Text
	if text == "" {
		text = m.Summary
	}
	if text != "" || len(m.Mentions) > 0 {
		body := escape(text)
		if mentions := mentionsMrkdwn(m.Mentions); mentions != "" {
			body = strings.TrimSpace(mentions + " " + body)
		}
		blocks = append(blocks, slack.NewSectionBlock(mrkdwn(truncate(emoji+body, maxSectionText)), nil, nil))
	}
	shownFields := m.Fields[:min(len(m.Fields), maxFieldSections*maxFields)]
	for i := 0; i < len(shownFields); i += maxFields {
		var fields []*slack.TextBlockObject
		for _, f := range shownFields[i:min(i+maxFields, len(shownFields))] {
			fields = append(fields, mrkdwn(truncate(fmt.Sprintf("*%s*\n%s", escape(f.Label), escape(f.Value)), maxFieldText)))
		}
		blocks = append(blocks, slack.NewSectionBlock(nil, fields, nil))
	}
	if n := len(m.Fields) - len(shownFields); n > 0 {
		blocks = append(blocks, slack.NewContextBlock("", mrkdwn(fmt.Sprintf("%d more fields not shown.", n))))
	}
	shown, overflow := fitLines(m.Lines, m.Tail)
	if len(overflow) > 0 && m.Tail {
		blocks = append(blocks, slack.NewContextBlock("", mrkdwn(fmt.Sprintf("%d earlier lines are not shown here; see the thread.", len(overflow)))))
	}
	for _, chunk := range codeChunks(shown) {
		blocks = append(blocks, slack.NewSectionBlock(mrkdwn(chunk), nil, nil))
	}
	if len(overflow) > 0 && !m.Tail {
		blocks = append(blocks, slack.NewContextBlock("", mrkdwn(fmt.Sprintf("%d more lines are not shown here; see the thread.", len(overflow)))))
	}
	if links := linksMrkdwn(m.Links); links != "" {
		blocks = append(blocks, slack.NewSectionBlock(mrkdwn(truncate(links, maxSectionText)), nil, nil))
	}
	var els []slack.BlockElement
	for i, b := range m.Buttons {
		if len(b.Command) > maxButtonValue || len(els) == maxButtons {
			continue // a command too long for a button is typed instead
		}
		btn := slack.NewButtonBlockElement(fmt.Sprintf("%s%d", ButtonPrefix, i), b.Command, plain(truncate(b.Label, maxButtonLabel)))
		switch b.Style {
		case actions.ToneSuccess:
			btn.Style = slack.StylePrimary
		case actions.ToneDanger:
			btn.Style = slack.StyleDanger
		}
		els = append(els, btn)
	}
	if len(els) > 0 {
		blocks = append(blocks, slack.NewActionBlock("infrabot-actions", els...))
	}
	if m.Footer != "" {
		blocks = append(blocks, slack.NewContextBlock("", mrkdwn(truncate(escape(m.Footer), maxSectionText))))
	}
	return rendered{Blocks: blocks, Fallback: truncate(strings.TrimSpace(fallback(m, shown)), maxFallback), Overflow: overflow}
}

// fallback is m as its top-level text, with the lines shown: bot.Text's
// plain text, escaped as the blocks are, since Slack reads this text as
// mrkdwn too and notifies with it. Only the mentions the message makes
// are mentions there.
func fallback(m actions.Message, lines []string) string {
	text := m.Text
	if text == "" {
		text = m.Summary
	}
	e := actions.Message{
		Title:  escape(m.Title),
		Text:   strings.TrimSpace(mentionsMrkdwn(m.Mentions) + " " + escape(text)),
		Footer: escape(m.Footer),
	}
	for _, f := range m.Fields {
		e.Fields = append(e.Fields, actions.Field{Label: escape(f.Label), Value: escape(f.Value)})
	}
	for _, l := range lines {
		e.Lines = append(e.Lines, escape(l))
	}
	for _, l := range m.Links {
		e.Links = append(e.Links, actions.Link{Label: escape(l.Label), URL: escape(l.URL)})
	}
	return bot.Text(e)
}

// mentionIDPattern is what a Slack user id looks like; anything else is
// never put inside <@…>.
var mentionIDPattern = regexp.MustCompile(`^[UW][A-Z0-9]{2,20}$`)

// mentionsMrkdwn renders mentions as Slack mentions (<@U02BOB>), which
// notify the person; a person with no Slack id is named in plain text.
func mentionsMrkdwn(ms []actions.Mention) string {
	parts := make([]string, 0, len(ms))
	for _, m := range ms {
		if mentionIDPattern.MatchString(m.ID) {
			parts = append(parts, "<@"+m.ID+">")
		} else {
			parts = append(parts, escape(m.Person))
		}
	}
	return strings.Join(parts, " ")
}

// linksMrkdwn renders links as <url|label>, one a line; a URL that is not
// a plain http(s) URL is shown as text, never as a link.
func linksMrkdwn(links []actions.Link) string {
	lines := make([]string, 0, len(links))
	for _, l := range links {
		label := strings.NewReplacer("|", "¦").Replace(escape(l.Label))
		if bot.SafeURL(l.URL) {
			lines = append(lines, "<"+strings.ReplaceAll(l.URL, "&", "&amp;")+"|"+label+">")
		} else {
			lines = append(lines, label+": "+escape(l.URL))
		}
	}
	return strings.Join(lines, "\n")
}

// fitLines splits lines into those the message shows and those that do
// not fit, which go to its thread: for output (tail), which grows at its
// end, the message shows the last ones; for a list, the first.
func fitLines(lines []string, tail bool) (shown, overflow []string) {
	budget := maxCodeBlocks*maxSectionText - 8*maxCodeBlocks
	n, fit := 0, 0
	for fit < len(lines) {
		l := lines[fit]
		if tail {
			l = lines[len(lines)-1-fit]
		}
		if n += len(codeLine(l)) + 1; n > budget {
			break
		}
		fit++
	}
	if tail {
		return lines[len(lines)-fit:], lines[:len(lines)-fit]
	}
	return lines[:fit], lines[fit:]
}

// codeChunks formats lines as code blocks, each within a section's limit.
// A line too long for one block is cut.
func codeChunks(lines []string) []string {
	var out []string
	for len(lines) > 0 {
		chunk, n := codeChunk(lines)
		out = append(out, chunk)
		lines = lines[n:]
	}
	return out
}

// codeChunk formats as many of lines as fit in one section (at least one,
// cut if it is too long) as a code block, and says how many it took.
func codeChunk(lines []string) (string, int) {
	var b strings.Builder
	n := 0
	for _, l := range lines {
		l = truncate(codeLine(l), maxSectionText-10) + "\n"
		if n > 0 && b.Len()+len(l) > maxSectionText-8 {
			break
		}
		b.WriteString(l)
		n++
	}
	return "```\n" + b.String() + "```", n
}

// codeLine is l as a line of a code block: escaped, and with every run of
// three or more backticks broken up by a zero-width space after each
// backtick, so that no ``` in it ends the block.
func codeLine(l string) string {
	l = escape(l)
	if !strings.Contains(l, "```") {
		return l
	}
	var b strings.Builder
	for len(l) > 0 {
		run := len(l) - len(strings.TrimLeft(l, "`"))
		switch {
		case run >= 3:
			b.WriteString(strings.Repeat("`\u200b", run))
		case run > 0:
			b.WriteString(l[:run])
		default:
			run = strings.IndexByte(l, '`')
			if run < 0 {
				run = len(l)
			}
			b.WriteString(l[:run])
		}
		l = l[run:]
	}
	return b.String()
}

func plain(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, s, true, false)
}

func mrkdwn(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, s, false, false)
}

// escaper is built once: escape runs for every line of every update.
var escaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// escape makes text safe for Slack's mrkdwn: &, < and > are control
// characters there (<@U123> is a mention, <!channel> pings everyone).
func escape(s string) string {
	if !strings.ContainsAny(s, "&<>") {
		return s
	}
	return escaper.Replace(s)
}

// truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
