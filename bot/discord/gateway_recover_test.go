package discord

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/bot/discord/discordtest"
)

// discordgo calls the gateway's handler with no recover, so a panic while
// handling an interaction would end infrabot. One is recovered, and the
// interaction refused only to its author. The panic here comes from data
// of another type than the interaction's, which discordgo's decoding
// never gives; read has no known panic left to trigger it with.
func TestGatewayInteractionSurvivesAPanic(t *testing.T) {
	t.Parallel()
	fake := discordtest.NewServer(t, "bot-token", "2", time.Now)
	a, err := New(Options{BotToken: "bot-token", ApplicationID: "2", APIURL: fake.URL(), Router: nobody{}, Catalog: actions.NewCatalog()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(context.Background()) })
	body, _ := json.Marshal(fake.Command(discordtest.User{ID: "4", Name: "dave"}, "", "3", "whoami", nil))
	var i discordgo.Interaction
	if err := json.Unmarshal(body, &i); err != nil {
		t.Fatal(err)
	}
	i.Data = discordgo.MessageComponentInteractionData{CustomID: "not a command's data"}

	a.gatewayInteraction(context.Background(), &i)

	calls := fake.CallsTo("POST /interactions/{id}/{token}/callback")
	if len(calls) != 1 {
		t.Fatalf("%d callbacks, want 1 (a refusal)", len(calls))
	}
	data, _ := calls[0].Body["data"].(map[string]any)
	if calls[0].Body["type"] != float64(4) || data["flags"] != float64(64) || !strings.Contains(data["content"].(string), "could not read") {
		t.Errorf("answered %v, want a private \"could not read\"", calls[0].Body)
	}
}
