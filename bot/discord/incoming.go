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
		var err error
		if text, err = commandText(data, a.opts.Catalog); err != nil {
			return nil, nil, err
		}
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
// read as a flag or split. Options no registration of infrabot's allows
// (null, or a value of another type than the option's) are errMalformed.
func commandText(data discordgo.ApplicationCommandInteractionData, cat *actions.Catalog) (string, error) {
	if len(data.Options) > 0 && data.Options[0] == nil {
		return "", fmt.Errorf("%w: a null subcommand", errMalformed)
	}
	if len(data.Options) == 0 || data.Options[0].Type != discordgo.ApplicationCommandOptionSubCommand {
		return "help", nil
	}
	sub := data.Options[0]
	opts := map[string]*discordgo.ApplicationCommandInteractionDataOption{}
	for _, o := range sub.Options {
		if o == nil {
			return "", fmt.Errorf("%w: a null option of /%s %s", errMalformed, CommandName, sub.Name)
		}
		if _, ok := value(o); !ok {
			return "", fmt.Errorf("%w: option %q of /%s %s: a %T value for a %s option", errMalformed, o.Name, CommandName, sub.Name, o.Value, o.Type)
		}
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
			v, _ := value(opts[n])
			parts = append(parts, v)
		}
		return strings.Join(parts, " "), nil
	}
	for _, arg := range act.Args {
		if o := opts[arg.Name]; o != nil {
			v, _ := value(o)
			parts = append(parts, v)
		}
	}
	for _, f := range act.Flags {
		o := opts[flagOption(f.Name)]
		if o == nil {
			continue
		}
		if o.Type == discordgo.ApplicationCommandOptionBoolean {
			if on, _ := o.Value.(bool); on {
				parts = append(parts, "--"+f.Name)
			}
			continue
		}
		v, _ := value(o)
		parts = append(parts, "--"+f.Name+"="+v)
	}
	return strings.Join(parts, " "), nil
}

// value is an option's value as a word of the command line; ok is false
// when the value is not of the option's type (JSON gives a number as a
// float64). discordgo's IntValue and the like would panic on it.
func value(o *discordgo.ApplicationCommandInteractionDataOption) (word string, ok bool) {
	switch o.Type {
	case discordgo.ApplicationCommandOptionInteger:
		n, ok := o.Value.(float64)
		return strconv.FormatInt(int64(n), 10), ok
	case discordgo.ApplicationCommandOptionBoolean:
		b, ok := o.Value.(bool)
		return strconv.FormatBool(b), ok
	case discordgo.ApplicationCommandOptionNumber:
		n, ok := o.Value.(float64)
		return strconv.FormatFloat(n, 'f', -1, 64), ok
	}
	s, ok := o.Value.(string) // text, and ids (user, channel, role…)
	return quote(s), ok
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
			if o == nil {
				continue
			}
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
