package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
	if len(c.Warnings) != 0 {
		t.Errorf("the demo config warns:\n%s", c.Warnings)
	}
}

func TestServiceDefaults(t *testing.T) {
	t.Parallel()
	c, err := config.Parse("f.yaml", []byte("log: {level: warn}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Admin.Listen != "127.0.0.1:9090" || time.Duration(c.Shutdown.Grace) != time.Minute {
		t.Errorf("admin.listen %q, shutdown.grace %v", c.Admin.Listen, time.Duration(c.Shutdown.Grace))
	}
	c, err = config.Parse("f.yaml", []byte("admin: {listen: \"off\"}\nshutdown: {grace: 5m}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Admin.Listen != "off" || time.Duration(c.Shutdown.Grace) != 5*time.Minute {
		t.Errorf("admin.listen %q, shutdown.grace %v", c.Admin.Listen, time.Duration(c.Shutdown.Grace))
	}
}

// TestProblemsInOurWords checks the exact text of each problem: the file
// and line, the key as it is written in the file, and what was expected,
// one message for one mistake.
func TestProblemsInOurWords(t *testing.T) {
	t.Setenv("INFRABOT_TEST_SET_VAR", "xoxb-looks-like-a-bot-token")
	t.Setenv("INFRABOT_TEST_APP_TOKEN", "xapp-looks-like-an-app-token")
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tests := []struct {
		name, yaml string
		want       string // every problem, exactly
	}{
		{"unknown key", "storage:\n  pathh: x\n",
			`f.yaml:2: unknown key "pathh" in storage (did you mean "path"?)`},
		{"unknown top-level key", "peeple: {}\n",
			`f.yaml:1: unknown key "peeple" at the top level (did you mean "people"?)`},
		{"unknown key, nothing near", "storage:\n  wibble: x\n",
			`f.yaml:2: unknown key "wibble" in storage; the keys here are path`},
		{"unknown key in a named entry", "people:\n  bob: {rolez: [a]}\n",
			`f.yaml:2: unknown key "rolez" in people.bob (did you mean "roles"?)`},
		{"a word for a number", "clouds: {c: {simulator: true}}\nenvironments:\n  staging:\n    cloud: c\n    servers:\n      - {name: web, flavor: f, image: i, count: two}\n",
			`f.yaml:6: environments.staging.servers[0].count: expected a whole number, not "two"`},
		{"a word for a list", "people:\n  bob: {roles: operator}\n",
			`f.yaml:2: people.bob.roles: expected a list of names (for a list of one, write [operator]), not "operator"`},
		{"a literal for a list of secrets", "pagerduty:\n  webhook_secrets: hunter2\n",
			"f.yaml:2: pagerduty.webhook_secrets: expected a list of secret references, not a string (not shown, as it may be a secret)"},
		{"a literal for a section that holds secrets", "slack: hunter2\n",
			"f.yaml:1: slack: expected a section of keys (api_url, app_token, bot_token, channels, listen, mode, signing_secret), not a string (not shown, as it may be a secret)"},
		{"a literal for a list of sections that hold secrets", "checks: hunter2\n",
			"f.yaml:1: checks: expected a list of sections, not a string (not shown, as it may be a secret)"},
		{"a number for a mapping of sections that hold secrets", "pagerduty: {services: 20240601}\n",
			"f.yaml:1: pagerduty.services: expected a mapping of names to sections, not a number (not shown, as it may be a secret)"},
		{"a word for true or false", "clouds:\n  c: {simulator: yes-please}\n",
			`f.yaml:2: clouds.c.simulator: expected true or false, not "yes-please"`},
		{"a list for a section", "storage: [a]\n",
			`f.yaml:1: storage: expected a section of keys (path), not a list`},
		{"undeclared role", "people:\n  bob: {roles: [wizard]}\n",
			`f.yaml:2: bob has role "wizard", which is not declared under roles`},
		{"inherit unknown", "roles:\n  a:\n    inherit: [b]\n",
			`f.yaml:3: role a inherits "b", which is not declared`},
		{"cycle", "roles:\n  a: {inherit: [b]}\n  b: {inherit: [a]}\n",
			"f.yaml:2: role a inherits itself: [a b a]\nf.yaml:3: role b inherits itself: [b a b]"},
		{"bad duration", "roles: {a: {}}\napprovals:\n  - actions: [teardown]\n    approvers: [a]\n    expires: soon\n",
			`f.yaml:5: "soon" is not a duration (write it like 90s, 15m, 2h or 14d)`},
		{"literal secret and an unset one, and nothing else", "http: {listen: 127.0.0.1:3000}\nslack:\n  mode: http\n  signing_secret: abc123\n  bot_token: ${env:INFRABOT_TEST_UNSET_VAR}\n",
			"f.yaml:4: this field holds a secret: write a reference such as ${env:NAME} or ${file:/path}, not the value itself\n" +
				"f.yaml:5: ${env:INFRABOT_TEST_UNSET_VAR}: environment variable INFRABOT_TEST_UNSET_VAR is not set"},
		{"literal cloud password is one problem", "clouds:\n  c:\n    auth_url: http://127.0.0.1:5000/v3\n    username: admin\n    password: hunter2\n    project: admin\n",
			"f.yaml:5: this field holds a secret: write a reference such as ${env:NAME} or ${file:/path}, not the value itself"},
		{"two references in one", "slack:\n  mode: socket\n  app_token: ${env:A}${env:B}\n  bot_token: ${env:INFRABOT_TEST_SET_VAR}\n",
			"f.yaml:3: a secret field takes exactly one reference, such as ${env:NAME} or ${file:/path}, with nothing before or after it"},
		{"not a variable name", "slack:\n  mode: socket\n  app_token: ${env:MY VAR}\n  bot_token: ${env:INFRABOT_TEST_SET_VAR}\n",
			"f.yaml:3: ${env:…} needs an environment variable name (letters, digits and _, not starting with a digit), not what is written here (not shown, as it may be the secret itself)"},
		{"a token for a variable name", "slack:\n  mode: socket\n  app_token: ${env:xapp-1-hunter2}\n  bot_token: ${env:INFRABOT_TEST_SET_VAR}\n",
			"f.yaml:3: ${env:…} needs an environment variable name (letters, digits and _, not starting with a digit), not what is written here (not shown, as it may be the secret itself)"},
		{"a token for a reference", "slack:\n  mode: socket\n  app_token: ${hunter2}\n  bot_token: ${env:INFRABOT_TEST_SET_VAR}\n",
			"f.yaml:3: a secret reference is ${env:NAME} or ${file:/path}, and this one is neither (not shown, as it may be the secret itself)"},
		{"cloud lacks what auth_url needs", "clouds:\n  c:\n    auth_url: http://127.0.0.1:5000/v3\n    password: ${env:INFRABOT_TEST_SET_VAR}\n",
			"f.yaml:2: cloud c with auth_url also needs username and project"},
		{"cloud needs a way in", "clouds:\n  c: {region: x}\n",
			"f.yaml:2: cloud c needs clouds_yaml and cloud, or auth_url and credentials, or simulator: true"},
		{"bot token as the app token", "slack:\n  mode: socket\n  app_token: ${env:INFRABOT_TEST_SET_VAR}\n  bot_token: ${env:INFRABOT_TEST_SET_VAR}\n",
			"f.yaml:3: slack.app_token holds a bot token (it starts with xoxb-); app_token takes the app-level token, which starts with xapp-"},
		{"app token as the bot token", "slack:\n  mode: socket\n  app_token: ${env:INFRABOT_TEST_APP_TOKEN}\n  bot_token: ${env:INFRABOT_TEST_APP_TOKEN}\n",
			"f.yaml:4: slack.bot_token holds an app-level token (it starts with xapp-); bot_token takes the bot token, which starts with xoxb-"},
		{"storage path is a directory", "storage:\n  path: " + dir + "\n",
			"f.yaml:2: storage.path " + dir + " is a directory; give the file to keep state in, such as " + dir + "/infrabot.db"},
		{"storage path under a file", "storage:\n  path: " + file + "/data/infrabot.db\n",
			"f.yaml:2: storage.path " + file + "/data/infrabot.db cannot be created: " + file + " is a file, not a directory"},
		{"env on unknown cloud", "clouds: {c: {simulator: true}}\nenvironments:\n  staging:\n    cloud: d\n",
			`f.yaml:4: environment staging uses cloud "d", which is not declared under clouds`},
		{"server without flavor", "clouds: {c: {simulator: true}}\nenvironments:\n  staging:\n    cloud: c\n    servers:\n      - name: web\n        image: x\n",
			"f.yaml:6: server web needs a flavor and an image"},
		{"bad env name", "clouds: {c: {simulator: true}}\nenvironments:\n  Staging_1: {cloud: c}\n",
			`f.yaml:3: environment name "Staging_1" must start with a letter and hold only lower case letters, digits and dashes`},
		{"not yaml", "people: [\n",
			"f.yaml:1: not valid YAML: did not find expected node content"},
		{"slack.channels moved", "slack:\n  mode: socket\n  app_token: ${env:HOME}\n  bot_token: ${env:HOME}\n  channels: {default: C0INFRA}\n",
			"f.yaml:5: slack.channels has moved: declare channels at the top level, each with its id per platform (channels: {default: {slack: C0INFRA}}), and name the one for approval requests in approvals_channel"},
		{"slack.listen moved", "slack:\n  mode: http\n  listen: 127.0.0.1:3000\n  signing_secret: ${env:HOME}\n  bot_token: ${env:HOME}\n",
			"f.yaml:3: slack.listen has moved: infrabot serves Slack, Discord and heartbeat pings on one server, set as http: {listen: 127.0.0.1:3000} at the top level"},
		{"slack http without server", "slack:\n  mode: http\n  signing_secret: ${env:HOME}\n  bot_token: ${env:HOME}\n",
			"f.yaml:1: slack http mode needs the public HTTP server: add http: {listen: 127.0.0.1:3000} at the top level"},
		{"channel ids", "channels:\n  default: {slack: general}\n  ci: {discord: \"12ab\"}\n",
			"f.yaml:2: \"general\" is not a Slack channel id (like C0INFRA: copy it from the channel's details, not its name)\n" +
				"f.yaml:3: \"12ab\" is not a Discord channel id (a number like 345678901234567890, in quotes)"},
		{"person's discord id not an id", "people:\n  bob: {discord: \"bob#1234\"}\n  carol: {discord: \"403000000000000003\"}\n",
			"f.yaml:2: bob's discord id \"bob#1234\" is not a Discord user id (a number like 401000000000000001, in quotes: with Developer Mode on, right-click the person, Copy User ID)"},
		{"discord.listen not used", "http: {listen: 127.0.0.1:3000}\ndiscord:\n  mode: interactions\n  listen: 127.0.0.1:3001\n  public_key: ${env:HOME}\n  bot_token: ${env:HOME}\n  application_id: \"123456789012345678\"\n",
			"f.yaml:4: discord.listen is not used: infrabot serves /discord/interactions on its one public server, set as http: {listen: 127.0.0.1:3001} at the top level"},
		{"discord interactions without key or server", "discord:\n  mode: interactions\n  bot_token: ${env:HOME}\n  application_id: \"123456789012345678\"\n",
			"f.yaml:1: discord interactions mode needs the public HTTP server: add http: {listen: 127.0.0.1:3000} at the top level\n" +
				"f.yaml:1: discord interactions mode needs public_key (the application's public key, from General Information in the developer portal)"},
		{"discord bad mode and ids", "discord:\n  mode: websocket\n  bot_token: ${env:HOME}\n  application_id: my-app\n  guild_id: \"12\"\n",
			"f.yaml:2: discord mode \"websocket\" is not interactions or gateway\n" +
				"f.yaml:4: discord application_id \"my-app\" is not an id (a number like 123456789012345678, in quotes)\n" +
				"f.yaml:5: discord guild_id \"12\" is not an id (a number like 234567890123456789, in quotes)"},
		{"admin listen not an address", "admin: {listen: 9090}\n", `f.yaml:1: admin.listen "9090" is not host:port (like 127.0.0.1:9090), or off`},
		{"admin on the public server", "http: {listen: 127.0.0.1:3000}\nadmin:\n  listen: 127.0.0.1:3000\n", "f.yaml:3: admin.listen is the public server's address: the admin endpoints must have a listener of their own"},
		{"bad grace", "shutdown: {grace: a while}\n", `f.yaml:1: "a while" is not a duration (write it like 90s, 15m, 2h or 14d)`},
		{"approvals channel undeclared", "channels: {ci: {slack: C0CI}}\napprovals_channel: default\n",
			`f.yaml:2: approvals_channel "default" is not declared under channels`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := problems(t, tc.yaml)
			if got != tc.want {
				t.Errorf("problems:\n%s\nwant:\n%s", got, tc.want)
			}
			if strings.Contains(got, "hunter2") || strings.Contains(got, "looks-like") {
				t.Error("a secret is in the problems")
			}
		})
	}
}

// TestStoragePathNotWritable needs a user whom file permissions bind
// (root may write anywhere, so there it cannot be checked).
func TestStoragePathNotWritable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root may write to a read-only directory")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o700) })
	_, err := config.Parse("f.yaml", []byte("storage:\n  path: "+dir+"/x.db\n"))
	want := "f.yaml:2: storage.path " + dir + "/x.db cannot be created: directory " + dir + " cannot be written: permission denied"
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %s", err, want)
	}
}

// TestPermissionsCheckedAgainstTheCatalogue checks that role and approval
// names are checked against the list the caller gives (the catalogue),
// with their lines, and that a flag's permission is grantable by name.
func TestPermissionsCheckedAgainstTheCatalogue(t *testing.T) {
	t.Parallel()
	known := []string{"help", "lock", "provision", "teardown", "unlock", "unlock-force"}
	c, err := config.Parse("f.yaml", []byte("roles:\n  a:\n    allow: [provison, unlock-force, \"*\"]\napprovals:\n  - actions: [tear-down]\n    approvers: [a]\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := "f.yaml:3: role a allows \"provison\", which is not a command (did you mean `provision`?)\n" +
		"f.yaml:5: approval rule 1 names \"tear-down\", which is not a command (did you mean `teardown`?)"
	if got := c.CheckPermissions(known).Error(); got != want {
		t.Errorf("problems:\n%s\nwant:\n%s", got, want)
	}
}

// TestUnmeetableApprovalRuleWarns checks that a rule only one person could
// ever approve, for that person's own requests, is a warning that names
// who and where.
func TestUnmeetableApprovalRuleWarns(t *testing.T) {
	t.Parallel()
	yaml := `people:
  alice: {roles: [admin]}
  bob:   {roles: [operator]}
roles:
  operator: {allow: [provision, approve], environments: [staging]}
  admin: {inherit: [operator], allow: ["*"]}
approvals:
  - actions: [provision]
    environments: [production]
    approvers: [admin]
  - actions: [provision]
    environments: [staging]
    approvers: [operator, admin]
clouds: {c: {simulator: true}}
environments:
  staging: {cloud: c}
  production: {cloud: c}
`
	c, err := config.Parse("f.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	want := "f.yaml:8: approval rule 1 can never be met for alice on production: nobody else holds admin there to approve (add a second person with that role, or change the rule)"
	if got := c.Warnings.Error(); got != want {
		t.Errorf("warnings:\n%s\nwant:\n%s", got, want)
	}
	c, err = config.Parse("f.yaml", []byte(strings.Replace(yaml, "  bob:   {roles: [operator]}\n", "  bob:   {roles: [operator]}\n  dave:  {roles: [admin]}\n", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Warnings) != 0 {
		t.Errorf("a second admin meets the rule, yet: %s", c.Warnings)
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
	f.Add([]byte("storage: &s {path: x}\nlog: *s\npeople:\n  a: &p {roles: []}\n  b:\n    <<: *p\n"))
	f.Add([]byte("slack:\n  mode: socket\n  app_token: ${env:A}${env:B}\n  bot_token: ${env:MY VAR}\n"))
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

// problems parses yaml as the file f.yaml, which must have problems, and
// returns them as they are printed.
func problems(t *testing.T, yaml string) string {
	t.Helper()
	_, err := config.Parse("f.yaml", []byte(yaml))
	var probs config.Problems
	if !errors.As(err, &probs) {
		t.Fatalf("error = %v, want problems", err)
	}
	return probs.Error()
}
