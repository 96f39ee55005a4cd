package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/ssh/sshtest"
	"github.com/infrabot/infrabot/config"
)

// deployConfig is a config whose staging environment deploys over SSH
// with the key in keyFile and the pinned host key line.
func deployConfig(t *testing.T, keyFile, pinned string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	cfg, err := config.Parse("test.yaml", []byte(oneAdminConfig(dir, fmt.Sprintf(`clouds:
  sim: {simulator: true}
environments:
  staging:
    cloud: sim
    servers:
      - {name: web, flavor: m1.small, image: cirros-0.6, networks: [private]}
    ssh:
      user: centos
      private_key: ${file:%s}
      host_keys: [%q]
    deploy:
      default:
        - run: "echo deploying {{ .ref }}"
    params:
      ref: {pattern: "[a-z0-9.]+", default: main}
`, keyFile, pinned))))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestSSHSettingsAreCheckedAtStart: a key that does not parse, or a
// pinned host key line that does not, stops infrabot at start, naming
// the environment, rather than at the first deploy.
func TestSSHSettingsAreCheckedAtStart(t *testing.T) {
	t.Parallel()
	key := sshtest.NewKey(t)
	good := filepath.Join(t.TempDir(), "id")
	if err := os.WriteFile(good, key.PEM, 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "id")
	if err := os.WriteFile(bad, []byte("not a key at all"), 0o600); err != nil {
		t.Fatal(err)
	}
	pinned := key.KnownHostsLine("10.0.0.5:22")
	tests := []struct {
		name, key, pinned, want string
	}{
		{"bad key", bad, pinned, "environment staging: ssh: reading the private key"},
		{"bad pinned line", good, "10.0.0.5 ssh-ed25519 AAAAnotbase64", "environment staging: ssh:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewApp(deployConfig(t, tc.key, tc.pinned), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("NewApp: %v; want %q", err, tc.want)
			}
		})
	}
	app, err := NewApp(deployConfig(t, good, pinned), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	reply := app.Engine.Execute(context.Background(), actions.Invocation{Person: "alice", Text: "help deploy", Origin: actions.Origin{Platform: "console"}})
	if !strings.Contains(reply.Summary, "deploy <env> [target] [--ref]") {
		t.Errorf("help deploy: %s", reply.Summary)
	}
	// The key material is a secret: redacted wherever output appears.
	if red := actions.NewRedactor(app.Config.SecretValues()...); !strings.Contains(red.String(string(key.PEM)), actions.Redacted) {
		t.Error("the private key is not among the secrets redacted")
	}
}
