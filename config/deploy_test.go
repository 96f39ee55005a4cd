package config_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/infrabot/infrabot/config"
)

// deployExample is the environment of the deploy issue, with the key file
// and known_hosts made by the test.
func deployExample(t *testing.T) string {
	dir := t.TempDir()
	key := filepath.Join(dir, "id_ed25519")
	if err := os.WriteFile(key, []byte("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return `clouds: {c: {simulator: true}}
environments:
  staging:
    cloud: c
    servers:
      - {name: logserver, flavor: m1.small, image: centos}
    ssh:
      user: centos
      private_key: ${file:` + key + `}
      known_hosts: /etc/infrabot/known_hosts
      bastion: {host: bastion.example.org:22, user: infra}   # optional jump host
    bootstrap:
      - run: "sudo dnf -y install python3"
    deploy:
      default:
        - run: "ansible-playbook -i inventory/staging site.yml -e ref={{ .ref }}"
          on: bastion            # or: all, or a server name
          timeout: 30m
      logserver:
        - run: "sudo systemctl restart httpd"
          on: logserver
    params:
      ref: {pattern: "^[A-Za-z0-9._/-]{1,100}$", default: master}
`
}

func TestDeployExampleLoads(t *testing.T) {
	t.Parallel()
	c, err := config.Parse("f.yaml", []byte(deployExample(t)))
	if err != nil {
		t.Fatal(err)
	}
	e := c.Environments["staging"]
	if e.SSH.User != "centos" || e.SSH.Bastion.User != "infra" || !strings.Contains(e.SSH.PrivateKey.Value(), "OPENSSH PRIVATE KEY") {
		t.Errorf("ssh = %+v", e.SSH)
	}
	d := e.Deploy["default"][0]
	if d.On != "bastion" || time.Duration(d.Timeout) != 30*time.Minute {
		t.Errorf("default target = %+v", d)
	}
	if b := e.Bootstrap[0]; b.On != "all" || time.Duration(b.Timeout) != config.DefaultStepTimeout {
		t.Errorf("bootstrap step defaults = %+v", b)
	}
	if *e.Params["ref"].Default != "master" {
		t.Errorf("params = %+v", e.Params)
	}
	if got := c.SecretValues(); len(got) != 1 || !strings.Contains(got[0], "b3BlbnNzaC1rZXktdjEAAAAA") {
		t.Errorf("secret values = %d", len(got))
	}
}

func TestDeployProblemsHaveLines(t *testing.T) {
	t.Parallel()
	base := "clouds: {c: {simulator: true}}\nenvironments:\n  staging:\n    cloud: c\n    servers:\n      - {name: web, flavor: f, image: i}\n"
	ssh := "    ssh: {user: centos, agent: true, known_hosts: /k}\n"
	tests := []struct{ name, yaml, want string }{
		{"no ssh", base + "    deploy:\n      default:\n        - run: make\n", "3: environment staging has bootstrap or deploy steps, but no ssh"},
		{"ssh without key", base + "    ssh: {user: u, known_hosts: /k}\n    bootstrap: [{run: x}]\n", "7: ssh needs private_key"},
		{"ssh without verification", base + "    ssh: {user: u, agent: true}\n    bootstrap: [{run: x}]\n", "7: ssh needs a way to verify host keys"},
		{"literal key", base + "    ssh: {user: u, private_key: AAAAkey, known_hosts: /k}\n", "7: this field holds a secret"},
		// ssh settings only ssh checks use are checked all the same.
		{"ssh without steps", base + "    ssh: {port: 22}\n", "7: ssh needs user"},
		{"unknown step key", base + ssh + "    deploy:\n      default:\n        - run: make\n          onn: all\n", `11: unknown key "onn" in environments.staging.deploy.default[0] (did you mean "on"?)`},
		{"undeclared param", base + ssh + "    deploy:\n      default:\n        - run: git checkout {{ .ref }}\n", "10: the command uses {{ .ref }}, which is not declared"},
		{"param in quotes", base + ssh + "    params: {ref: {pattern: '[a-z]+'}}\n    deploy:\n      default:\n        - run: \"echo '{{ .ref }}'\"\n", "11: {{ .ref }} stands inside single quotes"},
		{"unknown server", base + ssh + "    bootstrap:\n      - run: x\n        on: db\n", `10: on: "db" is not all, bastion, or a server`},
		{"bastion not set", base + ssh + "    bootstrap:\n      - run: x\n        on: bastion\n", "10: the step runs on the bastion, but ssh.bastion is not set"},
		{"bad pattern", base + "    params: {ref: {pattern: '[a-'}}\n", "7: parameter ref: pattern: error parsing regexp"},
		{"default off pattern", base + "    params:\n      ref:\n        pattern: '[a-z]+'\n        default: 'Main!'\n", "10: the default of ref does not match"},
		{"empty target", base + ssh + "    deploy:\n      web: []\n", "9: deploy target web has no steps"},
		{"bad timeout", base + ssh + "    bootstrap:\n      - run: x\n        timeout: forever\n", `10: "forever" is not a duration`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := problems(t, tc.yaml)
			if !strings.Contains(got, "f.yaml:"+tc.want) {
				t.Errorf("problems lack %q:\n%s", tc.want, got)
			}
		})
	}
}

func TestSecretValuesFindEverySecret(t *testing.T) {
	t.Setenv("INFRABOT_TEST_BOT", "xoxb-bot")
	t.Setenv("INFRABOT_TEST_SIGN", "signing-s3cret")
	t.Setenv("INFRABOT_TEST_KEY", "key-material")
	c, err := config.Parse("f.yaml", []byte("clouds: {c: {simulator: true}}\nenvironments:\n  staging:\n    cloud: c\n    ssh: {user: u, private_key: '${env:INFRABOT_TEST_KEY}', known_hosts: /k}\n"+
		"http: {listen: '127.0.0.1:0'}\nslack: {mode: http, signing_secret: '${env:INFRABOT_TEST_SIGN}', bot_token: '${env:INFRABOT_TEST_BOT}'}\n"))
	if err != nil {
		t.Fatal(err)
	}
	got := c.SecretValues()
	for _, want := range []string{"xoxb-bot", "signing-s3cret", "key-material"} {
		if !slices.Contains(got, want) {
			t.Errorf("SecretValues lacks one of the secrets (%d found)", len(got))
		}
	}
}
