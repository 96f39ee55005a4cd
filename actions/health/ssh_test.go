package health_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/health"
)

// shell answers ssh checks as the wiring's would, from a table of what
// each host's command does; a host set to hang waits for the check's
// timeout, and its error then wraps the context's, as the SSH executor's
// does. (The wiring's shell, through the real SSH executor and a real
// sshd, is tested in cmd/infrabot.)
type shell struct {
	mu    sync.Mutex
	hosts map[string]health.ShellResult // by host; Err "hang" hangs
	order []string
	err   error
	asked []string // env/on/cmd of each run
}

var errHang = actions.Errorf(actions.Internal, "hang")

func (s *shell) set(host string, err error, tail ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hosts == nil {
		s.hosts = map[string]health.ShellResult{}
	}
	if _, ok := s.hosts[host]; !ok {
		s.order = append(s.order, host)
	}
	s.hosts[host] = health.ShellResult{Host: host, Err: err, Tail: tail}
}

func (s *shell) Run(ctx context.Context, env, on, cmd string) ([]health.ShellResult, error) {
	s.mu.Lock()
	s.asked = append(s.asked, env+"/"+on+"/"+cmd)
	if s.err != nil {
		defer s.mu.Unlock()
		return nil, s.err
	}
	var out []health.ShellResult
	var hung []int
	for _, h := range s.order {
		r := s.hosts[h]
		if r.Err == errHang {
			hung = append(hung, len(out))
		}
		out = append(out, r)
	}
	s.mu.Unlock()
	if len(hung) > 0 {
		<-ctx.Done()
	}
	for _, i := range hung {
		out[i].Err = &actions.Error{Kind: actions.Unavailable, Message: "timed out on " + out[i].Host + "; the command was stopped", Err: ctx.Err()}
	}
	return out, nil
}

// An ssh check passes when its command exits 0 on every host `on:`
// names; a failure names each failing host with why and its last lines,
// and opens an incident like any check; a command that hangs fails at
// the check's timeout; not finding the hosts is a failure with the
// reason.
func TestSSHCheck(t *testing.T) {
	t.Parallel()
	sh := &shell{}
	sh.set("staging-promoter-1", nil, "active")
	sh.set("staging-promoter-2", nil, "active")
	w := newWorld(t, []health.Check{{
		Name: "promoter-service", Kind: health.SSH, Environment: "staging", On: "promoter",
		Run: "systemctl is-active promoter", Timeout: 200 * time.Millisecond,
	}}, func(o *health.Options) { o.Shell = sh })

	w.step(time.Minute)
	w.Expect(w.As("carol", "checks"), false, "promoter-service", "ssh", "up", "exit 0 on 2 hosts")
	if len(sh.asked) != 1 || sh.asked[0] != "staging/promoter/systemctl is-active promoter" {
		t.Errorf("the shell was asked %q", sh.asked)
	}

	sh.set("staging-promoter-2", actions.Errorf(actions.Unavailable, "exited with status 3"),
		"● promoter.service - Promoter", "   Active: failed (Result: exit-code)", "", "inactive")
	w.step(time.Minute)
	w.step(time.Minute)
	m := w.onePost("incident 1: promoter-service")
	want := "staging-promoter-2: exited with status 3: ● promoter.service - Promoter | Active: failed (Result: exit-code) | inactive"
	if m.Text != want {
		t.Errorf("the incident says\n%q, want\n%q", m.Text, want)
	}

	// A hung command is stopped at the check's timeout.
	sh.set("staging-promoter-2", errHang)
	r := w.As("carol", "check promoter-service")
	if !strings.Contains(r.Summary, "check promoter-service failed") || !strings.Contains(r.Summary, "no answer within 200ms") {
		t.Errorf("a hung command: %s", r.Summary)
	}

	// Not finding the hosts says why.
	sh.mu.Lock()
	sh.err = actions.Errorf(actions.Unavailable, "staging-promoter-1 (ERROR) not ACTIVE with an address; run `provision staging` first")
	sh.mu.Unlock()
	w.Expect(w.As("carol", "check promoter-service"), false, "failed", "staging-promoter-1 (ERROR) not ACTIVE")

	// Recovery resolves the incident.
	sh.mu.Lock()
	sh.err = nil
	sh.mu.Unlock()
	sh.set("staging-promoter-2", nil, "active")
	w.step(time.Minute)
	w.step(time.Minute)
	if m := w.onePost("incident 1: promoter-service"); !strings.Contains(m.Title, "resolved") {
		t.Errorf("after recovery the incident is %q", m.Title)
	}
}

// When an ssh check times out on one host, the others' failures are kept:
// the host that hung is the one said to give no answer in time.
func TestSSHTimeoutKeepsTheOtherHostsFailures(t *testing.T) {
	t.Parallel()
	sh := &shell{}
	sh.set("staging-promoter-1", actions.Errorf(actions.Permission, "the host key of staging-promoter-1 has changed"))
	sh.set("staging-promoter-2", errHang)
	sh.set("staging-promoter-3", nil, "active")
	w := newWorld(t, []health.Check{{
		Name: "promoter-service", Kind: health.SSH, Environment: "staging", On: "promoter",
		Run: "systemctl is-active promoter", Timeout: 200 * time.Millisecond,
	}}, func(o *health.Options) { o.Shell = sh })
	w.Expect(w.As("carol", "check promoter-service"), false, "check promoter-service failed",
		"staging-promoter-1: the host key of staging-promoter-1 has changed; staging-promoter-2: no answer within 200ms")
}
