package discord

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/bwmarrin/discordgo"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/bot"
)

// CommandName is the application command infrabot registers.
const CommandName = "infra"

var errMalformed = errors.New("malformed interaction")

// read turns an interaction into the response Discord gets at once and,
// for a command or a click on infrabot's buttons, the line to run.
func (a *Adapter) read(i *discordgo.Interaction) (*discordgo.InteractionResponse, *job, error) {
	switch i.Type {
	case discordgo.InteractionPing:
		return &discordgo.InteractionResponse{Type: discordgo.InteractionResponsePong}, nil, nil
	case discordgo.InteractionApplicationCommandAutocomplete:
		return a.autocomplete(i), nil, nil
	case discordgo.InteractionApplicationCommand, discordgo.InteractionMessageComponent:
	default:
		return nil, nil, fmt.Errorf("%w: type %d", errMalformed, i.Type)
	}
	user := ""
	if i.Member != nil && i.Member.User != nil {
		user = i.Member.User.ID
	} else if i.User != nil {
		user = i.User.ID
	}
	if user == "" || i.ChannelID == "" || i.ID == "" || i.Token == "" {
		return nil, nil, fmt.Errorf("%w: without user, channel, id or token", errMalformed)
	}
	ix := newExchange(i.ID, i.Token, i.AppID, i.ChannelID, user, a.opts.Now())
	if ix.appID == "" {
		ix.appID = a.opts.ApplicationID
	}
	var text string
	var resp *discordgo.InteractionResponse
	if i.Type == discordgo.InteractionApplicationCommand {
		data := i.ApplicationCommandData()
		if data.Name != CommandName {
			return nil, nil, fmt.Errorf("%w: command /%s is not infrabot's", errMalformed, data.Name)
		}
		ix.command = true
		text = commandText(data, a.opts.Catalog)
		resp = &discordgo.InteractionResponse{Type: discordgo.InteractionResponseDeferredChannelMessageWithSource}
	} else {
		data := i.MessageComponentData()
		cmd, ok := strings.CutPrefix(data.CustomID, ButtonPrefix)
		resp = &discordgo.InteractionResponse{Type: discordgo.InteractionResponseDeferredMessageUpdate}
		if !ok || strings.TrimSpace(cmd) == "" {
			return resp, nil, nil // another app's component: acknowledged, ignored
		}
		text = cmd
	}
	private := i.GuildID == ""
	channel := i.ChannelID + "/" + i.ID
	return resp, &job{in: bot.Incoming{Platform: Platform, UserID: user, Channel: channel, Text: text, Direct: true, Private: private}, ix: ix}, nil
}

// commandText writes /infra SUB OPTIONS as the line a person would type:
// the subcommand, its arguments in the order the action declares them,
// then its flags. String values are quoted, so that a value is never
// read as a flag or split.
func commandText(data discordgo.ApplicationCommandInteractionData, cat *actions.Catalog) string {
	if len(data.Options) == 0 || data.Options[0].Type != discordgo.ApplicationCommandOptionSubCommand {
		return "help"
	}
	sub := data.Options[0]
	opts := map[string]*discordgo.ApplicationCommandInteractionDataOption{}
	for _, o := range sub.Options {
		opts[o.Name] = o
	}
	parts := []string{sub.Name}
	var act *actions.Action
	if cat != nil {
		act, _ = cat.Lookup(sub.Name)
	}
	if act == nil {
		// Not in this catalogue (registered by an older infrabot): pass
		// the options in name order and let the engine explain.
		names := make([]string, 0, len(opts))
		for n := range opts {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			parts = append(parts, value(opts[n]))
		}
		return strings.Join(parts, " ")
	}
	for _, arg := range act.Args {
		if o := opts[arg.Name]; o != nil {
			parts = append(parts, value(o))
		}
	}
	for _, f := range act.Flags {
		o := opts[flagOption(f.Name)]
		if o == nil {
			continue
		}
		if o.Type == discordgo.ApplicationCommandOptionBoolean {
			if o.BoolValue() {
				parts = append(parts, "--"+f.Name)
			}
			continue
		}
		parts = append(parts, "--"+f.Name+"="+value(o))
	}
	return strings.Join(parts, " ")
}

// value is an option's value as a word of the command line.
func value(o *discordgo.ApplicationCommandInteractionDataOption) string {
	switch o.Type {
	case discordgo.ApplicationCommandOptionInteger:
		return strconv.FormatInt(o.IntValue(), 10)
	case discordgo.ApplicationCommandOptionBoolean:
		return strconv.FormatBool(o.BoolValue())
	case discordgo.ApplicationCommandOptionNumber:
		return strconv.FormatFloat(o.FloatValue(), 'f', -1, 64)
	}
	s, _ := o.Value.(string)
	return quote(s)
}

var quoter = strings.NewReplacer(`\`, `\\`, `"`, `\"`)

func quote(s string) string { return `"` + quoter.Replace(s) + `"` }

// autocomplete answers the choices for the option being typed: the
// environments starting with what was typed.
func (a *Adapter) autocomplete(i *discordgo.Interaction) *discordgo.InteractionResponse {
	typed := ""
	data := i.ApplicationCommandData()
	var walk func([]*discordgo.ApplicationCommandInteractionDataOption)
	walk = func(os []*discordgo.ApplicationCommandInteractionDataOption) {
		for _, o := range os {
			if o.Focused {
				typed, _ = o.Value.(string)
			}
			walk(o.Options)
		}
	}
	walk(data.Options)
	choices := []*discordgo.ApplicationCommandOptionChoice{}
	for _, env := range a.opts.Environments {
		if strings.HasPrefix(env, strings.ToLower(typed)) && len(choices) < maxChoices {
			choices = append(choices, &discordgo.ApplicationCommandOptionChoice{Name: env, Value: env})
		}
	}
	return &discordgo.InteractionResponse{Type: discordgo.InteractionApplicationCommandAutocompleteResult, Data: &discordgo.InteractionResponseData{Choices: choices}}
}
