package discord_test

import (
	"net/http"
	"testing"

	"github.com/infrabot/infrabot/bot/discord/discordtest"
)

// malformed are /infra commands signed as Discord would sign them but with
// options no registration of infrabot's allows: a value of the wrong type,
// or none, for its option's type, and null in place of a subcommand or an
// option.
func malformed(w *world) map[string]discordtest.Interaction {
	command := func(options ...any) discordtest.Interaction {
		ix := w.fake.Command(alice, guild, infra, "deploy", nil)
		ix["data"].(map[string]any)["options"] = options
		return ix
	}
	deploy := func(options ...any) map[string]any {
		return map[string]any{"name": "deploy", "type": 1, "options": options}
	}
	return map[string]discordtest.Interaction{
		"integer argument with a text value":  command(deploy(map[string]any{"name": "env", "type": 4, "value": "nope"})),
		"integer argument with no value":      command(deploy(map[string]any{"name": "env", "type": 4})),
		"number argument with a text value":   command(deploy(map[string]any{"name": "env", "type": 10, "value": "nope"})),
		"boolean flag with a text value":      command(deploy(map[string]any{"name": "force", "type": 5, "value": "yes"})),
		"boolean argument with a number":      command(deploy(map[string]any{"name": "env", "type": 5, "value": 1})),
		"unknown subcommand, integer as text": command(map[string]any{"name": "nosuch", "type": 1, "options": []any{map[string]any{"name": "x", "type": 4, "value": "nope"}}}),
		"null subcommand":                     command(nil),
		"null option":                         command(deploy(nil)),
	}
}

// An interaction whose options are of the wrong shape is refused as
// malformed (400), the same as one that is not JSON: it runs nothing.
func TestMalformedOptionsAreRefused(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	for name, ix := range malformed(w) {
		if r := w.discord.Send(t, w.discord.Sign(ix)); r.Status != http.StatusBadRequest {
			t.Errorf("%s: answered %d %q, want 400", name, r.Status, r.Body)
		}
	}
	w.settle()
	if n := w.router.n.Load(); n != 0 {
		t.Errorf("%d lines reached the engine, want none", n)
	}
}
