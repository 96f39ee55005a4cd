package main_test

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions/actionstest"
	"github.com/infrabot/infrabot/bot/slack/slacktest"
	"github.com/infrabot/infrabot/storage"
)

// opened reports whether process pid has the file at path open.
func opened(pid int, path string) bool {
	fds, _ := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "fd"))
	for _, fd := range fds {
		if target, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "fd", fd.Name())); err == nil && target == path {
			return true
		}
	}
	return false
}

// TestSIGHUPDuringStartReloadsOnceRunning: a SIGHUP that comes while
// infrabot starts (here: while it waits for the store, which another
// process holds for a moment) does not kill it; the config is reloaded
// once it serves.
func TestSIGHUPDuringStartReloadsOnceRunning(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skip("needs /proc to see when infrabot opens its store")
	}
	sim := startSimulator(t)
	fake := slacktest.NewServer(t, e2eBotToken)
	b := newBot(t, sim)
	public, adminAddr := actionstest.FreeAddr(t), actionstest.FreeAddr(t)
	config := filepath.Join(b.dir, "service.yaml")
	if err := os.WriteFile(config, serviceConfig(t, b, fake, public, adminAddr, ""), 0o600); err != nil {
		t.Fatal(err)
	}
	// Another process holds the store: infrabot waits for it at start
	// (up to storage.OpenTimeout).
	dbPath := filepath.Join(b.dir, "infrabot.db")
	held, err := storage.Open(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	logs := &actionstest.Buffer{}
	cmd := exec.Command(binary, "run", "--config", config)
	cmd.Env = append(b.env, "INFRABOT_E2E_SLACK_SIGNING="+e2eSigningSecret, "INFRABOT_E2E_SLACK_TOKEN="+e2eBotToken)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		held.Close()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-done
		}
	})
	for deadline := time.Now().Add(20 * time.Second); !opened(cmd.Process.Pid, dbPath); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			held.Close()
			t.Fatalf("infrabot never opened its store\n%s", logs.String())
		}
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	held.Close()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		select {
		case err := <-done:
			t.Fatalf("infrabot ended at a SIGHUP during its start: %v\n%s", err, logs.String())
		default:
		}
		if c, err := net.Dial("tcp", public); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("infrabot never listened on %s\n%s", public, logs.String())
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(logs.String(), "config reloaded") {
		if time.Now().After(deadline) {
			t.Fatalf("the SIGHUP sent during start never reloaded the config\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("infrabot run after SIGTERM: %v\n%s", err, logs.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("infrabot did not stop\n%s", logs.String())
	}
}
