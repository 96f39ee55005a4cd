package main_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// withoutSecrets is the environment with none of the tests' secrets: what
// a cron job that checks the audit log has.
func withoutSecrets() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "INFRABOT_E2E_") {
			env = append(env, kv)
		}
	}
	return env
}

// TestAuditVerifyWhileRunning checks the audit log the way
// docs/operations.md says to, from cron: while `infrabot run` holds the
// store, with no chat or cloud secret in the environment; and a mistyped
// store path fails, creating nothing.
func TestAuditVerifyWhileRunning(t *testing.T) {
	t.Parallel()
	b := newBot(t, startSimulator(t))

	// What someone typed is shown escaped at the console, kept as typed
	// in the audit log.
	out := b.shell("alice", "lock staging \x1b]0;pwned\x07", "audit 3")
	if strings.ContainsAny(out, "\x1b\x07") {
		t.Errorf("the console wrote a terminal escape:\n%q", out)
	}
	expect(t, out, `\x1b]0;pwned\x07`)

	s := runService(t, b, "")

	verify := func(config string) (string, int) {
		t.Helper()
		v := exec.Command(binary, "audit", "verify", "--config", config)
		v.Env = withoutSecrets()
		out, err := v.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out), ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return string(out), 0
	}
	out, code := verify(s.config)
	if code != 0 {
		t.Fatalf("audit verify while infrabot runs: exit %d\n%s\nlogs:\n%s", code, out, s.logs.String())
	}
	expect(t, out, "audit log ok: 3 records")

	// A mistyped storage.path: a clear failure, and nothing created.
	missing := filepath.Join(b.dir, "dtaa", "infrabot.db")
	wrong := filepath.Join(b.dir, "wrong.yaml")
	cfg, err := os.ReadFile(s.config)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(wrong, []byte(strings.Replace(string(cfg), b.dir+"/infrabot.db", missing, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code = verify(wrong)
	if code == 0 {
		t.Errorf("audit verify of a missing store passed:\n%s", out)
	}
	expect(t, out, "there is no store at "+missing, "nothing was created")
	if _, err := os.Stat(filepath.Dir(missing)); !os.IsNotExist(err) {
		t.Errorf("audit verify created %s", filepath.Dir(missing))
	}

	s.signal(syscall.SIGTERM)
	if err := s.wait(30 * time.Second); err != nil {
		t.Errorf("infrabot run did not stop cleanly: %v\n%s", err, s.logs.String())
	}
	if _, err := os.Stat(filepath.Join(b.dir, "infrabot.db.sock")); !os.IsNotExist(err) {
		t.Errorf("the store's socket was left behind: %v", err)
	}
}
