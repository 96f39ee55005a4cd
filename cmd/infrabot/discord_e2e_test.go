package main_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/infrabot/infrabot/bot/discord/discordtest"
)

// TestDiscordRegister runs the built `infrabot discord register` twice
// against the fake Discord: /infra is registered once, with a subcommand
// for every action of the build, and the token never reaches the output.
func TestDiscordRegister(t *testing.T) {
	t.Parallel()
	sim := startSimulator(t)
	const token, app, guild = "e2e-discord-token-local", "123456789012345678", "234567890123456789"
	fake := discordtest.NewServer(t, token, app, nil)
	b := newBot(t, sim)
	cfg, err := os.ReadFile(b.config)
	if err != nil {
		t.Fatal(err)
	}
	cfg = append(cfg, fmt.Sprintf(`discord:
  mode: gateway
  bot_token: ${env:INFRABOT_E2E_DISCORD_TOKEN}
  application_id: "%s"
  guild_id: "%s"
  api_url: %s
`, app, guild, fake.URL())...)
	path := filepath.Join(b.dir, "discord.yaml")
	if err := os.WriteFile(path, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		cmd := exec.Command(binary, "discord", "register", "--config", path)
		cmd.Env = append(b.env, "INFRABOT_E2E_DISCORD_TOKEN="+token)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Fatalf("discord register: %v\n%s", err, out.String())
		}
		if !strings.Contains(out.String(), "registered /infra with") || strings.Contains(out.String(), token) {
			t.Errorf("discord register said:\n%s", out.String())
		}
	}
	cmds := fake.Commands(guild)
	if len(cmds) != 1 {
		t.Fatalf("%d commands registered, want /infra once", len(cmds))
	}
	subs, _ := cmds[0]["options"].([]any)
	names := map[string]bool{}
	for _, s := range subs {
		names[s.(map[string]any)["name"].(string)] = true
	}
	for _, want := range []string{"help", "provision", "teardown", "approve", "status"} {
		if !names[want] {
			t.Errorf("/infra has no %s subcommand (has %v)", want, names)
		}
	}
}
