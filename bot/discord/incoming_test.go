package discord_test

import (
	"fmt"
	"net/http"
	"strings"
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
		"text argument with a number":         command(deploy(map[string]any{"name": "env", "type": 3, "value": 42})),
		"text argument with no value":         command(deploy(map[string]any{"name": "env", "type": 3})),
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

// Over the gateway the same interactions are refused, each told only to
// its author, and the connection goes on: carol's command behind them
// runs. (discordgo calls the handler with no recover: a panic there would
// end infrabot.)
func TestMalformedOptionsThroughTheGatewayAreRefused(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.runGateway()
	w.fake.WaitFor(t, "the gateway connected", w.fake.Connected)
	shapes := malformed(w)
	for _, ix := range shapes {
		w.fake.Dispatch("INTERACTION_CREATE", ix)
	}
	w.fake.Dispatch("INTERACTION_CREATE", w.fake.Command(carol, guild, infra, "whoami", nil))
	w.expectMessage(infra, "you are carol")
	w.settle()
	if n := w.router.n.Load(); n != 1 {
		t.Errorf("%d lines reached the engine, want 1 (carol's whoami)", n)
	}
	refusals := 0
	for _, c := range w.fake.CallsTo("POST /interactions/{id}/{token}/callback") {
		data, _ := c.Body["data"].(map[string]any)
		if c.Body["type"] == float64(4) && data["flags"] == float64(64) && strings.Contains(fmt.Sprint(data["content"]), "could not read") {
			refusals++
		}
	}
	if refusals != len(shapes) {
		t.Errorf("%d private refusals, want %d (one per malformed interaction)", refusals, len(shapes))
	}
}
