package main_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/infrabot/infrabot/bot/discord/discordtest"
)

// `infrabot run` with a discord section beside Slack: Discord's signed
// interactions reach the built binary on the public server, run through
// the engine, and are answered through the (fake) Discord API; /readyz
// counts the Discord adapter; a forged interaction is refused.
func TestServiceAnswersDiscordInteractions(t *testing.T) {
	t.Parallel()
	const token, appID, guild, channel = "e2e-discord-token-local", "123456789012345678", "234567890123456789", "345678901234567890"
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	fake := discordtest.NewServer(t, token, appID, nil)
	b := newBot(t, startSimulator(t))
	b.env = append(b.env, "INFRABOT_E2E_DISCORD_TOKEN="+token, "INFRABOT_E2E_DISCORD_KEY="+hex.EncodeToString(pub))
	s := runService(t, b, fmt.Sprintf(`discord:
  mode: interactions
  public_key: ${env:INFRABOT_E2E_DISCORD_KEY}
  bot_token: ${env:INFRABOT_E2E_DISCORD_TOKEN}
  application_id: "%s"
  guild_id: "%s"
  api_url: %s
`, appID, guild, fake.URL()))

	if code, rd := s.readyz(); code != http.StatusOK || !strings.Contains(fmt.Sprint(rd.Parts), "discord") {
		t.Fatalf("/readyz: %d %+v, want ready with a discord part", code, rd)
	}

	discord := &discordtest.App{URL: s.slack.URL, Key: priv, Server: fake}
	zoe := discordtest.User{ID: "456789012345678901", Name: "zoe"}
	ix := fake.Command(zoe, guild, channel, "whoami", nil)
	if r := discord.Send(t, discord.Sign(ix)); r.Status != http.StatusOK {
		t.Fatalf("the interaction was answered %d %s", r.Status, r.Body)
	}
	fake.WaitFor(t, "the answer to whoami", func() bool {
		for _, m := range fake.Messages(channel) {
			body, _ := json.Marshal(m.Embeds)
			if m.Interaction == ix.ID() && !m.Thinking && strings.Contains(m.Content+string(body), "does not know you") {
				return true
			}
		}
		return false
	})

	_, other, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	forger := &discordtest.App{URL: s.slack.URL, Key: other}
	if r := forger.Send(t, forger.Sign(fake.Command(zoe, guild, channel, "whoami", nil))); r.Status != http.StatusUnauthorized {
		t.Errorf("a forged interaction was answered %d, want 401", r.Status)
	}
	for _, line := range s.logLines() {
		if strings.Contains(fmt.Sprint(line), token) {
			t.Errorf("the bot token is in the log: %v", line)
		}
	}
}
