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
func FuzzInteraction(f *testing.F) {
	for _, s := range []string{
		`{"id":"1","application_id":"2","type":1,"token":"t","version":1}`,
		`{"id":"1","application_id":"2","type":2,"channel_id":"3","token":"t","member":{"user":{"id":"4"}},"data":{"name":"infra","type":1,"options":[{"name":"teardown","type":1,"options":[{"name":"env","type":3,"value":"staging"}]}]}}`,
		`{"id":"1","type":3,"channel_id":"3","token":"t","user":{"id":"4"},"data":{"custom_id":"infrabot:approve 1","component_type":2}}`,
		`{"id":"1","type":4,"channel_id":"3","token":"t","user":{"id":"4"},"data":{"name":"infra","options":[{"name":"plan","type":1,"options":[{"name":"env","type":3,"value":"st","focused":true}]}]}}`,
		`{"type":2,"data":{"name":"infra","options":[{"name":"x","type":1,"options":[{"name":"id","type":4,"value":"nope"}]}]}}`,
		`{"type":2,"data":null}`, `[]`, `{"type":99}`,
	} {
		f.Add([]byte(s))
	}
	a, err := New(Options{BotToken: "t", ApplicationID: "2", Router: nobody{}, Catalog: actions.NewCatalog(), Environments: []string{"staging"}})
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
