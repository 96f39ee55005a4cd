package discord

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/bot"
)

// Embed limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits),
// kept a little under Discord's.
const (
	maxTitle       = 256
	maxDescription = 4000
	maxFields      = 25
	maxFieldName   = 256
	maxFieldValue  = 1000
	maxFooter      = 2000
	maxContent     = 1900
	// maxMentionUsers is how many people a message may ping: Discord
	// takes at most 100 ids in allowed_mentions.users.
	maxMentionUsers = 100
	// maxEmbedTotal bounds what all of an embed's texts add up to
	// (Discord: 6,000 characters): the title, then the footer, the
	// fields and the description share it, in that order.
	maxEmbedTotal  = 5900
	maxButtonLabel = 80
	maxCustomID    = 100
	maxButtons     = 5 // per action row
)

// ButtonPrefix starts the custom_id of every button infrabot renders; the
// rest is the command the button runs, as if its clicker had typed it.
const ButtonPrefix = "infrabot:"

// Embed colours by tone.
var toneColour = map[actions.Tone]int{
	actions.ToneInfo:    0x5865F2, // blurple
	actions.ToneSuccess: 0x57F287,
	actions.ToneWarning: 0xFEE75C,
	actions.ToneDanger:  0xED4245,
}

// rendered is a message ready for Discord.
type rendered struct {
	Content         string                            `json:"content"`
	Embeds          []*discordgo.MessageEmbed         `json:"embeds"`
	Components      []discordgo.MessageComponent      `json:"components"`
	AllowedMentions *discordgo.MessageAllowedMentions `json:"allowed_mentions"`
}

func (r rendered) webhookEdit() *discordgo.WebhookEdit {
	return &discordgo.WebhookEdit{Content: &r.Content, Embeds: &r.Embeds, Components: &r.Components, AllowedMentions: r.AllowedMentions}
}

// Render turns a neutral message into what Discord shows, as the JSON of
// a message body: content (mentions only, which embeds cannot make), one
// embed (colour from the tone, fields, footer) and the buttons. A message
// without buttons has an empty components list, so that editing a
// decided approval request takes its buttons away.
func Render(m actions.Message) any { return render(m) }

func render(m actions.Message) rendered {
	r := rendered{Components: []discordgo.MessageComponent{}, AllowedMentions: &discordgo.MessageAllowedMentions{Parse: []discordgo.AllowedMentionType{}}}
	r.Content, r.AllowedMentions.Users = mentions(m.Mentions)

	e := &discordgo.MessageEmbed{Type: discordgo.EmbedTypeRich, Color: toneColour[m.Tone]}
	e.Title = truncate(m.Title, maxTitle)
	budget := maxEmbedTotal - len(e.Title)
	if m.Footer != "" {
		e.Footer = &discordgo.MessageEmbedFooter{Text: truncate(m.Footer, min(maxFooter, budget/4))}
		budget -= len(e.Footer.Text)
	}
	// Fields take at most a third of what is left; the description the
	// rest. A field that does not fit is left out, with those after it.
	fieldRoom := budget / 3
	for i, f := range m.Fields {
		name, value := truncate(orDash(f.Label), maxFieldName), truncate(orDash(inert(f.Value)), maxFieldValue)
		if i == maxFields || len(name)+len(value) > fieldRoom {
			break
		}
		fieldRoom -= len(name) + len(value)
		budget -= len(name) + len(value)
		e.Fields = append(e.Fields, &discordgo.MessageEmbedField{Name: name, Value: value, Inline: len(f.Value) < 40})
	}
	e.Description = description(m, min(maxDescription, budget))
	r.Embeds = []*discordgo.MessageEmbed{e}

	var row discordgo.ActionsRow
	for _, b := range m.Buttons {
		id := ButtonPrefix + b.Command
		if len(id) > maxCustomID || len(row.Components) == maxButtons {
			continue // a command too long for a button is typed instead
		}
		style := discordgo.SecondaryButton
		switch b.Style {
		case actions.ToneSuccess:
			style = discordgo.SuccessButton
		case actions.ToneDanger:
			style = discordgo.DangerButton
		}
		row.Components = append(row.Components, discordgo.Button{Label: truncate(b.Label, maxButtonLabel), Style: style, CustomID: id})
	}
	if len(row.Components) > 0 {
		r.Components = []discordgo.MessageComponent{row}
	}
	return r
}

// mentionIDPattern is what a Discord user id looks like (a snowflake: a
// number); anything else is never put in <@…> or allowed_mentions, where
// Discord would refuse the whole message for it.
var mentionIDPattern = regexp.MustCompile(`^[0-9]{15,20}$`)

// mentions renders ms as the content of a message and the ids it may
// ping: as many as fit in the content and in allowed_mentions (Discord
// takes 100 ids there), then "and N more" for the rest. Only the people
// the content mentions are listed; a person with no Discord id, or one
// that is not an id, is named in plain text.
func mentions(ms []actions.Mention) (content string, ids []string) {
	// Room kept for the note, however many are left out.
	note := len(fmt.Sprintf(" and %d more", len(ms)))
	var b strings.Builder
	for i, men := range ms {
		part, id := escape(men.Person), ""
		if mentionIDPattern.MatchString(men.ID) {
			part, id = "<@"+men.ID+">", men.ID
		}
		if b.Len() > 0 {
			part = " " + part
		}
		room := maxContent
		if i < len(ms)-1 {
			room -= note
		}
		if b.Len()+len(part) > room || (id != "" && len(ids) == maxMentionUsers) {
			if b.Len() > 0 {
				b.WriteString(" ")
			}
			fmt.Fprintf(&b, "and %d more", len(ms)-i)
			break
		}
		b.WriteString(part)
		if id != "" {
			ids = append(ids, id)
		}
	}
	return b.String(), ids
}

// description is the text, the links and the lines of m (the last ones
// that fit, in a code block) in at most room bytes. The text and links
// take at most half of room when there are lines.
func description(m actions.Message, room int) string {
	// The text, or else the summary: a run's state, a status's count and
	// a plan's totals are said there and in no field.
	text := m.Text
	if text == "" {
		text = m.Summary
	}
	var head []string
	if text != "" {
		head = append(head, inert(text))
	}
	if len(m.Links) > 0 {
		var ls []string
		for _, l := range m.Links {
			// A URL that is not a plain http(s) URL (a space or a ")" would
			// end the link early) is shown as text, never as a link.
			if bot.SafeURL(l.URL) {
				ls = append(ls, fmt.Sprintf("[%s](%s)", escape(l.Label), l.URL))
			} else {
				ls = append(ls, escape(l.Label)+" "+escape(l.URL))
			}
		}
		head = append(head, strings.Join(ls, " · "))
	}
	headRoom := room
	if len(m.Lines) > 0 {
		headRoom = room / 2
	}
	var desc strings.Builder
	desc.WriteString(truncate(strings.Join(head, "\n"), headRoom))
	if len(m.Lines) > 0 {
		// What wraps the lines: a newline, the note of lines left out,
		// the code block's fences.
		const frame = 64
		shown, dropped := fitLines(m.Lines, room-desc.Len()-frame, m.Tail)
		if desc.Len() > 0 {
			desc.WriteString("\n")
		}
		if dropped > 0 && m.Tail {
			fmt.Fprintf(&desc, "(%d earlier lines not shown)\n", dropped)
		}
		if len(shown) > 0 {
			desc.WriteString("```\n" + strings.Join(shown, "\n") + "\n```")
		}
		if dropped > 0 && !m.Tail {
			if len(shown) > 0 {
				desc.WriteString("\n")
			}
			fmt.Fprintf(&desc, "(%d more lines not shown)", dropped)
		}
	}
	return truncate(desc.String(), room)
}

// fitLines keeps the lines that fit in room bytes and says how many were
// left out: for output (tail), which grows at its end, the last ones; for
// a list, the first. ``` in a line would close the code block, so it is
// broken up (inert).
func fitLines(lines []string, room int, tail bool) (shown []string, dropped int) {
	at := func(i int) string {
		if tail {
			return inert(lines[len(lines)-1-i])
		}
		return inert(lines[i])
	}
	n := 0
	for len(shown) < len(lines) {
		l := at(len(shown))
		if n+len(l)+1 > room {
			break
		}
		n += len(l) + 1
		shown = append(shown, l)
	}
	if len(shown) == 0 && len(lines) > 0 && room > 0 {
		shown = []string{truncate(at(0), room)}
	}
	if tail {
		slices.Reverse(shown)
	}
	return shown, len(lines) - len(shown)
}

// linkCloser breaks up "](", the middle of a masked link [label](url),
// with a zero-width space: in a code span or not, there is then no link.
var linkCloser = strings.NewReplacer("](", "]\u200b(")

// inert keeps text infrabot interpolates but did not write (a lock
// reason in a command, a field's value, a line of output) from making a
// masked link or a code block: it may contain a backtick that closes the
// code span the engine wrapped it in, so neither can depend on being in
// one. The masked links of a message are its Links, never its text. What
// reads as ordinary text (a lone bracket, a code span) is left as it is.
func inert(s string) string { return linkCloser.Replace(breakFences(s)) }

// breakFences puts a zero-width space after every second backtick of a
// run of three or more, so that no ``` is left in s, whatever the run's
// length: it could neither open nor close a code block.
func breakFences(s string) string {
	if !strings.Contains(s, "```") {
		return s
	}
	var b strings.Builder
	run := 0
	for _, r := range s {
		if r != '`' {
			run = 0
		} else if run++; run == 3 {
			b.WriteString("\u200b")
			run = 1
		}
		b.WriteRune(r)
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

var escaper = strings.NewReplacer("*", "\\*", "_", "\\_", "`", "\\`", "~", "\\~", "|", "\\|", "[", "\\[", "]", "\\]", "@", "@\u200b")

// escape keeps a name or label from being read as markdown or a mention.
func escape(s string) string { return escaper.Replace(s) }

// truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	if n < len("…") {
		return ""
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
