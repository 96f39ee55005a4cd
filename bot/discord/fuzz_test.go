package discord

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/bwmarrin/discordgo"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/bot"
)

type nobody struct{}

func (nobody) Handle(context.Context, bot.Incoming) (actions.Reply, bool) {
	return actions.Reply{}, false
}

// FuzzInteraction feeds arbitrary bodies to the reading of an
// interaction (past the signature): it must refuse or accept, never panic.
// The command seeds are whole interactions (id, user, channel, token), so
// that the fuzzer starts past the envelope's checks, at the options; the
// catalogue has an action with an argument and a flag, and the seeds name
// it as well as one it does not know.
func FuzzInteraction(f *testing.F) {
	const command = `{"id":"1","application_id":"2","type":2,"channel_id":"3","token":"t","member":{"user":{"id":"4"}},"data":{"name":"infra","type":1,"options":`
	for _, s := range []string{
		`{"id":"1","application_id":"2","type":1,"token":"t","version":1}`,
		command + `[{"name":"deploy","type":1,"options":[{"name":"env","type":3,"value":"staging"},{"name":"force","type":5,"value":true}]}]}}`,
		command + `[{"name":"teardown","type":1,"options":[{"name":"env","type":3,"value":"staging"}]}]}}`,
		`{"id":"1","type":3,"channel_id":"3","token":"t","user":{"id":"4"},"data":{"custom_id":"infrabot:approve 1","component_type":2}}`,
		`{"id":"1","type":4,"channel_id":"3","token":"t","user":{"id":"4"},"data":{"name":"infra","options":[{"name":"plan","type":1,"options":[{"name":"env","type":3,"value":"st","focused":true}]}]}}`,
		`{"id":"1","type":4,"channel_id":"3","token":"t","user":{"id":"4"},"data":{"name":"infra","options":[null,{"name":"plan","type":1,"options":[null]}]}}`,
		// Shapes that once panicked: a value of another type than its
		// option's, or none, and null in place of an option.
		command + `[{"name":"run","type":1,"options":[{"name":"id","type":4,"value":"nope"}]}]}}`,
		command + `[{"name":"run","type":1,"options":[{"name":"id","type":4}]}]}}`,
		command + `[{"name":"run","type":1,"options":[{"name":"id","type":10,"value":"nope"}]}]}}`,
		command + `[{"name":"run","type":1,"options":[{"name":"force","type":5,"value":"yes"}]}]}}`,
		command + `[{"name":"deploy","type":1,"options":[{"name":"force","type":5,"value":"yes"}]}]}}`,
		command + `[{"name":"deploy","type":1,"options":[{"name":"env","type":4,"value":"staging"}]}]}}`,
		command + `[null]}}`,
		command + `[{"name":"run","type":1,"options":[null]}]}}`,
		`{"id":"1","type":2,"channel_id":"3","token":"t","user":{"id":"4"},"data":null}`,
		`{"type":2,"data":null}`, `[]`, `{"type":99}`,
	} {
		f.Add([]byte(s))
	}
	cat := actions.NewCatalog()
	cat.Add(&actions.Action{
		Name: "deploy", Args: []actions.Arg{{Name: "env", Kind: actions.ArgEnv}}, Flags: []actions.Flag{{Name: "force"}},
		Query: func(context.Context, *actions.Request) (actions.Message, error) { return actions.Message{}, nil },
	})
	a, err := New(Options{BotToken: "t", ApplicationID: "2", Router: nobody{}, Catalog: cat, Environments: []string{"staging"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { a.Close(context.Background()) })
	f.Fuzz(func(t *testing.T, body []byte) {
		var i discordgo.Interaction
		if json.Unmarshal(body, &i) != nil {
			return
		}
		a.read(&i)
	})
}
