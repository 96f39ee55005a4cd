package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/actionstest"
)

// TestReloadRedactsRotatedSecrets: docs/operations.md rotates a cloud
// password with a reload, so after one the new password is as hidden as
// the old one was, in the log and in chat, and the old one stays hidden.
func TestReloadRedactsRotatedSecrets(t *testing.T) {
	t.Parallel()
	const oldPassword, newPassword = "old-password-0451", "new-password-7781"
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "cloud-password")
	if err := os.WriteFile(pwFile, []byte(oldPassword), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "infrabot.yaml")
	if err := os.WriteFile(path, []byte(fmt.Sprintf(`storage:
  path: %s/infrabot.db
people:
  alice: {roles: [admin]}
roles:
  admin: {allow: ["*"], environments: ["*"]}
clouds:
  prod:
    auth_url: http://127.0.0.1:9/v3
    username: infrabot
    password: ${file:%s}
    project: infra
    domain: Default
environments:
  staging:
    cloud: prod
    servers:
      - {name: web, flavor: m1.small, image: cirros, networks: [private]}
`, dir, pwFile)), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs actionstest.Buffer
	app, err := OpenApp(path, &logs)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	// A command whose answer quotes what the cloud said, password and all.
	h, err := app.Engine.Module("echo")
	if err != nil {
		t.Fatal(err)
	}
	h.Register(&actions.Action{Name: "echo", Summary: "says what the cloud said", Query: func(ctx context.Context, req *actions.Request) (actions.Message, error) {
		return actions.Message{Summary: "the cloud said: " + oldPassword + " " + newPassword}, nil
	}})

	if err := os.WriteFile(pwFile, []byte(newPassword), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := app.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	app.Log.Error("authenticating failed", "err", fmt.Errorf("401: password %q refused", newPassword))
	reply := app.Engine.Execute(context.Background(), actions.Invocation{Person: "alice", Text: "echo", Origin: actions.Origin{Platform: "console"}})
	if reply.Summary != "the cloud said: "+actions.Redacted+" "+actions.Redacted {
		t.Errorf("chat after the reload: %q", reply.Summary)
	}
	out := logs.String()
	if !strings.Contains(out, "authenticating failed") || !strings.Contains(out, "config reloaded") {
		t.Fatalf("the log lacks the lines of the test:\n%s", out)
	}
	if strings.Contains(out, newPassword) || strings.Contains(out, oldPassword) {
		t.Errorf("the log carries a cloud password:\n%s", out)
	}
}
