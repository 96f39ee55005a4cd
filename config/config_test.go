package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/infrabot/infrabot/config"
)

// issueExample is the configuration the core issue says must load as is.
const issueExample = `storage:
  path: ./data/infrabot.db
people:
  alice: {roles: [admin], slack: U01ALICE, discord: "111111111111111111"}
  bob:   {roles: [operator], slack: U02BOB}
  carol: {roles: [viewer], slack: U03CAROL}
roles:
  viewer:
    allow: [help, whoami, status, plan, runs, run, checks, incidents, oncall, jobs]
  operator:
    inherit: [viewer]
    allow: [provision, teardown, deploy, lock, unlock, cancel, ack, resolve, approve, deny]
    environments: [staging]
  admin:
    inherit: [operator]
    allow: ["*"]
    environments: ["*"]
approvals:
  - actions: [teardown]
    environments: ["*"]
    approvers: [operator, admin]
    expires: 15m
  - actions: [provision, deploy]
    environments: [production]
    approvers: [admin]
`

func TestIssueExampleLoads(t *testing.T) {
	t.Parallel()
	c, err := config.Parse("infrabot.yaml", []byte(issueExample))
	if err != nil {
		t.Fatal(err)
	}
	if c.People["alice"].Discord != "111111111111111111" || len(c.Roles) != 3 || len(c.Approvals) != 2 {
		t.Errorf("loaded %+v", c)
	}
	if c.Approvals[1].Expires == 0 {
		t.Error("an approval rule without expires gets the default")
	}
}

func TestDemoLoads(t *testing.T) {
	t.Parallel()
	c, err := config.Demo()
	if err != nil {
		t.Fatal(err)
	}
	if !c.Clouds["local"].Simulator || len(c.Environments["staging"].Servers) != 2 {
		t.Errorf("demo config: %+v", c)
	}
}

func TestProblemsHaveLines(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, yaml string
		want       []string // "line: message part"
	}{
		{"unknown key", "storage:\n  paht: x\n", []string{"2: field paht not found"}},
		{"unknown top-level key", "peeple: {}\n", []string{"1: field peeple not found"}},
		{"wrong type", "people:\n  bob: {roles: operator}\n", []string{"2: cannot unmarshal"}},
		{"undeclared role", "people:\n  bob: {roles: [wizard]}\n", []string{`2: bob has role "wizard"`}},
		{"inherit unknown", "roles:\n  a:\n    inherit: [b]\n", []string{`3: role a inherits "b"`}},
		{"typo in allow", "roles:\n  a:\n    allow: [provison]\n", []string{"3: role a allows \"provison\", which is not a command (did you mean `provision`?)"}},
		{"cycle", "roles:\n  a: {inherit: [b]}\n  b: {inherit: [a]}\n", []string{"inherits itself"}},
		{"bad duration", "roles: {a: {}}\napprovals:\n  - actions: [teardown]\n    approvers: [a]\n    expires: soon\n", []string{`5: "soon" is not a duration`}},
		{"literal secret", "http: {listen: 127.0.0.1:3000}\nslack:\n  mode: http\n  signing_secret: abc123\n  bot_token: ${env:INFRABOT_TEST_UNSET_VAR}\n",
			[]string{"4: this field holds a secret", "5: ${env:INFRABOT_TEST_UNSET_VAR}: environment variable INFRABOT_TEST_UNSET_VAR is not set"}},
		{"cloud needs a way in", "clouds:\n  c: {region: x}\n", []string{"2: cloud c needs clouds_yaml"}},
		{"env on unknown cloud", "clouds: {c: {simulator: true}}\nenvironments:\n  staging:\n    cloud: d\n", []string{`4: environment staging uses cloud "d"`}},
		{"server without flavor", "clouds: {c: {simulator: true}}\nenvironments:\n  staging:\n    cloud: c\n    servers:\n      - name: web\n        image: x\n", []string{"6: server web needs a flavor"}},
		{"bad env name", "clouds: {c: {simulator: true}}\nenvironments:\n  Staging_1: {cloud: c}\n", []string{"3: environment name \"Staging_1\""}},
		{"not yaml", "people: [\n", []string{"did not find expected"}},
		{"slack.channels moved", "slack:\n  mode: socket\n  app_token: ${env:HOME}\n  bot_token: ${env:HOME}\n  channels: {default: C0INFRA}\n",
			[]string{"5: slack.channels has moved: declare channels at the top level"}},
		{"slack.listen moved", "slack:\n  mode: http\n  listen: 127.0.0.1:3000\n  signing_secret: ${env:HOME}\n  bot_token: ${env:HOME}\n",
			[]string{"3: slack.listen has moved", "http: {listen: 127.0.0.1:3000}"}},
		{"slack http without server", "slack:\n  mode: http\n  signing_secret: ${env:HOME}\n  bot_token: ${env:HOME}\n",
			[]string{"1: slack http mode needs the public HTTP server"}},
		{"channel ids", "channels:\n  default: {slack: general}\n  ci: {discord: \"12ab\"}\n",
			[]string{`2: "general" is not a Slack channel id`, `3: "12ab" is not a Discord channel id`}},
		{"discord.listen not used", "http: {listen: 127.0.0.1:3000}\ndiscord:\n  mode: interactions\n  listen: 127.0.0.1:3001\n  public_key: ${env:HOME}\n  bot_token: ${env:HOME}\n  application_id: \"123456789012345678\"\n",
			[]string{"4: discord.listen is not used", "http: {listen: 127.0.0.1:3001}"}},
		{"discord interactions without key or server", "discord:\n  mode: interactions\n  bot_token: ${env:HOME}\n  application_id: \"123456789012345678\"\n",
			[]string{"1: discord interactions mode needs the public HTTP server", "discord interactions mode needs public_key"}},
		{"discord bad mode and ids", "discord:\n  mode: websocket\n  bot_token: ${env:HOME}\n  application_id: my-app\n  guild_id: \"12\"\n",
			[]string{`2: discord mode "websocket" is not interactions or gateway`, `4: discord application_id "my-app" is not an id`, `5: discord guild_id "12" is not an id`}},
		{"approvals channel undeclared", "channels: {ci: {slack: C0CI}}\napprovals_channel: default\n",
			[]string{`2: approvals_channel "default" is not declared under channels`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := config.Parse("f.yaml", []byte(tc.yaml))
			var probs config.Problems
			if !errors.As(err, &probs) {
				t.Fatalf("error = %v, want problems", err)
			}
			text := probs.Error()
			for _, w := range tc.want {
				if !strings.Contains(text, "f.yaml:"+w) && !strings.Contains(text, w) {
					t.Errorf("problems lack %q:\n%s", w, text)
				}
				if line, _, ok := strings.Cut(w, ":"); ok && len(line) < 3 && !strings.Contains(text, "f.yaml:"+line+":") {
					t.Errorf("no problem on line %s:\n%s", line, text)
				}
			}
		})
	}
}

func TestApprovalsChannelDefaultsToTheChannelNamedDefault(t *testing.T) {
	c, err := config.Parse("f.yaml", []byte("channels:\n  default: {slack: C0INFRA, discord: \"345678901234567890\"}\n  ci: {slack: C0CISQUAD}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.ApprovalsChannel != "default" || c.Channels["default"].Discord != "345678901234567890" || c.Channels["ci"].Slack != "C0CISQUAD" {
		t.Errorf("channels %+v, approvals channel %q", c.Channels, c.ApprovalsChannel)
	}
	c, err = config.Parse("f.yaml", []byte("channels:\n  ops: {slack: C0OPS}\n"))
	if err != nil || c.ApprovalsChannel != "" {
		t.Errorf("without a channel named default: %q, %v", c.ApprovalsChannel, err)
	}
}

func TestSecretsResolveAndNeverPrint(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	if err := os.WriteFile(file, []byte("xoxb-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("INFRABOT_TEST_SIGNING", "s3cret-signing")
	c, err := config.Parse("f.yaml", []byte("http: {listen: 127.0.0.1:0}\nslack:\n  mode: http\n  signing_secret: ${env:INFRABOT_TEST_SIGNING}\n  bot_token: ${file:"+file+"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Slack.BotToken.Value() != "xoxb-from-file" || c.Slack.SigningSecret.Value() != "s3cret-signing" {
		t.Errorf("secrets resolved to the wrong values")
	}
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		if out := sprintf(format, c.Slack); strings.Contains(out, "s3cret") || strings.Contains(out, "xoxb-from") {
			t.Errorf("%s leaks a secret: %s", format, out)
		}
	}
}

// FuzzParse checks that no configuration text makes loading panic.
func FuzzParse(f *testing.F) {
	f.Add([]byte(issueExample))
	f.Add([]byte(ciExample))
	f.Add([]byte("clouds: {c: {simulator: true}}\nenvironments:\n  staging:\n    cloud: c\n    servers:\n      - {name: web, flavor: m1.small, image: x, count: 2}\n"))
	f.Add([]byte("slack: {mode: http, signing_secret: ${env:X}}\n"))
	f.Add([]byte("clouds: {c: {simulator: true}}\nenvironments:\n  staging:\n    cloud: c\n    ssh: {user: u, agent: true, known_hosts: /k, bastion: {host: b}}\n    deploy:\n      default:\n        - {run: \"make {{ .ref }}\", on: bastion, timeout: 1m}\n    params: {ref: {pattern: '[a-z]+', default: x}}\n"))
	f.Add([]byte("people: [\n"))
	f.Add([]byte("roles: {a: {inherit: [a]}}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := config.Parse("fuzz.yaml", data)
		if err == nil && c == nil {
			t.Fatal("no config and no error")
		}
	})
}

func TestLoadStorageNeedsNoSecret(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "infrabot.yaml")
	data := "storage:\n  path: /var/lib/infrabot/infrabot.db\nslack:\n  bot_token: ${env:INFRABOT_TEST_UNSET_TOKEN}\n  signing_secret: ${env:INFRABOT_TEST_UNSET_SECRET}\n"
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := config.Load(path); err == nil {
		t.Fatal("the full load should need the secrets")
	}
	st, err := config.LoadStorage(path)
	if err != nil || st.Path != "/var/lib/infrabot/infrabot.db" {
		t.Fatalf("LoadStorage: %+v, %v", st, err)
	}
	if err := os.WriteFile(path, []byte("people: {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if st, err := config.LoadStorage(path); err != nil || st.Path != "./data/infrabot.db" {
		t.Errorf("without a storage section: %+v, %v; want the default path", st, err)
	}
	if _, err := config.LoadStorage(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Error("a missing config file was accepted")
	}
}
