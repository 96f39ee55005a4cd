package discord

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/bwmarrin/discordgo"

	"github.com/infrabot/infrabot/actions"
)

// Discord's limits on application commands.
const (
	maxSubcommands    = 25
	maxOptions        = 25
	maxChoices        = 25
	maxDescription100 = 100
)

var optionName = regexp.MustCompile(`^[-_a-z0-9]{1,32}$`)

// Commands returns the /infra application command for the catalogue: one
// subcommand per action, each argument a typed option (environments as
// choices, or autocompleted when there are more than 25; run, request
// and incident ids and counts as integers; the rest as strings), each
// flag a boolean option. A new action appears in Discord by registering
// again; nothing here names one.
func Commands(cat *actions.Catalog, envs []string) ([]*discordgo.ApplicationCommand, error) {
	infra := &discordgo.ApplicationCommand{
		Name: CommandName, Type: discordgo.ChatApplicationCommand,
		Description: "infrabot: chat-ops for your infrastructure",
	}
	for _, act := range cat.All() {
		if !optionName.MatchString(act.Name) {
			return nil, fmt.Errorf("discord: the command %q cannot be a Discord subcommand name", act.Name)
		}
		sub := &discordgo.ApplicationCommandOption{
			Type: discordgo.ApplicationCommandOptionSubCommand, Name: act.Name,
			Description: describe(act.Summary, act.Name),
		}
		// Discord wants required options before optional ones.
		var required, optional []*discordgo.ApplicationCommandOption
		for _, arg := range act.Args {
			o, err := argOption(act, arg, envs)
			if err != nil {
				return nil, err
			}
			if o.Required {
				required = append(required, o)
			} else {
				optional = append(optional, o)
			}
		}
		for _, f := range act.Flags {
			name := flagOption(f.Name)
			if !optionName.MatchString(name) {
				return nil, fmt.Errorf("discord: the flag --%s of %s cannot be a Discord option name", f.Name, act.Name)
			}
			optional = append(optional, &discordgo.ApplicationCommandOption{
				Type: discordgo.ApplicationCommandOptionBoolean, Name: name, Description: describe(f.Help, "--"+f.Name),
			})
		}
		sub.Options = append(required, optional...)
		if len(sub.Options) > maxOptions {
			return nil, fmt.Errorf("discord: %s has %d options; Discord allows %d", act.Name, len(sub.Options), maxOptions)
		}
		infra.Options = append(infra.Options, sub)
	}
	if len(infra.Options) > maxSubcommands {
		return nil, fmt.Errorf("discord: the catalogue has %d commands; one Discord command holds %d subcommands", len(infra.Options), maxSubcommands)
	}
	return []*discordgo.ApplicationCommand{infra}, nil
}

func argOption(act *actions.Action, arg actions.Arg, envs []string) (*discordgo.ApplicationCommandOption, error) {
	if !optionName.MatchString(arg.Name) {
		return nil, fmt.Errorf("discord: the argument %q of %s cannot be a Discord option name", arg.Name, act.Name)
	}
	o := &discordgo.ApplicationCommandOption{Name: arg.Name, Required: !arg.Optional, Type: discordgo.ApplicationCommandOptionString}
	one := 1.0
	switch arg.Kind {
	case actions.ArgEnv:
		o.Description = "environment"
		if len(envs) > maxChoices {
			o.Autocomplete = true
		}
		for _, e := range envs {
			if len(envs) <= maxChoices {
				o.Choices = append(o.Choices, &discordgo.ApplicationCommandOptionChoice{Name: e, Value: e})
			}
		}
	case actions.ArgID:
		o.Type, o.MinValue, o.Description = discordgo.ApplicationCommandOptionInteger, &one, arg.Name+" (a number, like 42)"
	case actions.ArgCount:
		o.Type, o.MinValue, o.MaxValue, o.Description = discordgo.ApplicationCommandOptionInteger, &one, 1000, "how many (1 to 1000)"
	case actions.ArgText:
		o.Description = arg.Name + " (free text)"
	default:
		o.Description = arg.Name
	}
	return o, nil
}

// flagOption is the option name of a --flag.
func flagOption(flag string) string { return strings.ToLower(flag) }

// describe is a description within Discord's 1 to 100 characters.
func describe(s, fallback string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		s = fallback
	}
	return truncate(s, maxDescription100)
}

// Register overwrites the application's commands (in the guild when one
// is configured, else globally) with /infra for the catalogue: a bulk
// overwrite, so running it again replaces /infra in place and never
// duplicates it. It returns the commands as Discord registered them.
func (a *Adapter) Register(ctx context.Context) ([]*discordgo.ApplicationCommand, error) {
	if a.opts.Catalog == nil {
		return nil, fmt.Errorf("discord: no catalogue to register")
	}
	cmds, err := Commands(a.opts.Catalog, a.opts.Environments)
	if err != nil {
		return nil, err
	}
	var out []*discordgo.ApplicationCommand
	err = a.out.Call(ctx, "register", func(ctx context.Context) error {
		return do(ctx, func(ctx context.Context) (err error) {
			out, err = a.session.ApplicationCommandBulkOverwrite(a.opts.ApplicationID, a.opts.GuildID, cmds, discordgo.WithContext(ctx))
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("discord: registering /%s: %w", CommandName, err)
	}
	return out, nil
}
