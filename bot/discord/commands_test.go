package discord_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/infrabot/infrabot/bot/discord"
)

// Registering sends /infra with one subcommand per catalogue action and
// typed options; running it twice overwrites in place.
func TestRegisterTwiceWithoutDuplicates(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	for range 2 {
		if _, err := w.adapter.Register(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(w.fake.CallsTo("PUT /applications/{id}/guilds/{id}/commands")); n != 2 {
		t.Errorf("%d bulk overwrites, want 2", n)
	}
	cmds := w.fake.Commands(guild)
	if len(cmds) != 1 || cmds[0]["name"] != "infra" {
		t.Fatalf("registered %v, want /infra once", cmds)
	}
	subs := map[string]map[string]any{}
	opts, _ := cmds[0]["options"].([]any)
	for _, o := range opts {
		o := o.(map[string]any)
		subs[o["name"].(string)] = o
	}
	for _, a := range w.engine.Catalog().All() {
		if subs[a.Name] == nil {
			t.Errorf("the catalogue's %s is not a subcommand", a.Name)
		}
	}
	option := func(sub, name string) map[string]any {
		os, _ := subs[sub]["options"].([]any)
		for _, o := range os {
			if o := o.(map[string]any); o["name"] == name {
				return o
			}
		}
		t.Fatalf("/infra %s has no option %s", sub, name)
		return nil
	}
	env := option("teardown", "env")
	if env["type"] != float64(3) || env["required"] != true || len(env["choices"].([]any)) != 2 {
		t.Errorf("teardown's env option is %v, want a required string with the 2 environments as choices", env)
	}
	if id := option("approve", "id"); id["type"] != float64(4) || id["min_value"] != float64(1) {
		t.Errorf("approve's id option is %v, want an integer from 1", id)
	}
	if f := option("deploy", "force"); f["type"] != float64(5) {
		t.Errorf("deploy's --force is %v, want a boolean option", f)
	}
}

// A command line comes back from the options in the catalogue's order,
// whatever order Discord sends them in.
func TestCommandsAreValid(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	cmds, err := discord.Commands(w.engine.Catalog(), w.engine.Environments())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(cmds)
	var back []map[string]any
	if err := json.Unmarshal(b, &back); err != nil || len(back) != 1 {
		t.Fatalf("%v %s", err, b)
	}
	for _, sub := range back[0]["options"].([]any) {
		sub := sub.(map[string]any)
		seenOptional := false
		os, _ := sub["options"].([]any)
		for _, o := range os {
			o := o.(map[string]any)
			if d, _ := o["description"].(string); d == "" || len(d) > 100 {
				t.Errorf("%s %s: description %q", sub["name"], o["name"], d)
			}
			if o["required"] == true && seenOptional {
				t.Errorf("%s: required option %s after an optional one", sub["name"], o["name"])
			}
			if o["required"] != true {
				seenOptional = true
			}
		}
	}
}
