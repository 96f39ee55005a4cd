package discord

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"

	"github.com/infrabot/infrabot/actions"
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
	var mentions []string
	for _, men := range m.Mentions {
		if men.ID != "" {
			mentions = append(mentions, "<@"+men.ID+">")
			r.AllowedMentions.Users = append(r.AllowedMentions.Users, men.ID)
		} else {
			mentions = append(mentions, escape(men.Person))
		}
	}
	r.Content = truncate(strings.Join(mentions, " "), maxContent)

	e := &discordgo.MessageEmbed{Type: discordgo.EmbedTypeRich, Color: toneColour[m.Tone]}
	e.Title = truncate(m.Title, maxTitle)
	// The text, or else the summary: a run's state, a status's count and
	// a plan's totals are said there and in no field.
	text := m.Text
	if text == "" {
		text = m.Summary
	}
	var desc strings.Builder
	if text != "" {
		desc.WriteString(text)
	}
	if len(m.Links) > 0 {
		var ls []string
		for _, l := range m.Links {
			if strings.HasPrefix(l.URL, "https://") || strings.HasPrefix(l.URL, "http://") {
				ls = append(ls, fmt.Sprintf("[%s](%s)", escape(l.Label), l.URL))
			} else {
				ls = append(ls, escape(l.Label)+" "+l.URL)
			}
		}
		if desc.Len() > 0 {
			desc.WriteString("\n")
		}
		desc.WriteString(strings.Join(ls, " · "))
	}
	if len(m.Lines) > 0 {
		room := maxDescription - desc.Len() - 40
		shown, dropped := fitLines(m.Lines, room)
		if desc.Len() > 0 {
			desc.WriteString("\n")
		}
		if dropped > 0 {
			fmt.Fprintf(&desc, "(%d earlier lines not shown)\n", dropped)
		}
		desc.WriteString("```\n" + strings.Join(shown, "\n") + "\n```")
	}
	e.Description = truncate(desc.String(), maxDescription)
	for i, f := range m.Fields {
		if i == maxFields {
			break
		}
		e.Fields = append(e.Fields, &discordgo.MessageEmbedField{
			Name: truncate(orDash(f.Label), maxFieldName), Value: truncate(orDash(f.Value), maxFieldValue), Inline: len(f.Value) < 40,
		})
	}
	if m.Footer != "" {
		e.Footer = &discordgo.MessageEmbedFooter{Text: truncate(m.Footer, maxFooter)}
	}
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

// fitLines keeps the last lines that fit in room bytes (output grows at
// the end) and says how many earlier ones were left out. ``` in a line
// would close the code block, so it is broken up.
func fitLines(lines []string, room int) (shown []string, dropped int) {
	n := 0
	i := len(lines)
	for i > 0 {
		l := len(lines[i-1]) + 1
		if n+l > room {
			break
		}
		n += l
		i--
	}
	for _, l := range lines[i:] {
		shown = append(shown, strings.ReplaceAll(l, "```", "`\u200b``"))
	}
	if i > 0 && len(shown) == 0 {
		shown = []string{truncate(lines[len(lines)-1], room)}
		i--
	}
	return shown, i
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
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
