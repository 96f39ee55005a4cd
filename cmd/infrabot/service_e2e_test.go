package main_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions/actionstest"
	"github.com/infrabot/infrabot/bot/slack/slacktest"
	"github.com/infrabot/infrabot/cmd/infrabot/admin"
	"github.com/infrabot/infrabot/cmd/infrabot/admin/admintest"
	"github.com/infrabot/infrabot/simulator"
)

// service is `infrabot run` as an operator runs it: Slack in HTTP mode
// against the fake, the admin listener on a port of its own, JSON logs.
type service struct {
	t      *testing.T
	b      *bot
	cmd    *exec.Cmd
	logs   *actionstest.Buffer
	fake   *slacktest.Server
	slack  *slacktest.App
	admin  string // http://host:port
	config string
	done   chan error
}

// serviceConfig is the bot's config for `run`, with extra appended.
func serviceConfig(t *testing.T, b *bot, fake *slacktest.Server, public, adminAddr, extra string) []byte {
	cfg, err := os.ReadFile(b.config)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(strings.NewReplacer(
		"alice: {roles: [admin]}", "alice: {roles: [admin], slack: U01ALICE}",
		"bob:   {roles: [operator]}", "bob:   {roles: [operator], slack: U02BOB}",
		"carol: {roles: [viewer]}", "carol: {roles: [viewer], slack: U03CAROL}",
		`admin: {listen: "127.0.0.1:0"}`, fmt.Sprintf("admin: {listen: %q}", adminAddr),
	).Replace(string(cfg)) + fmt.Sprintf(`http: {listen: %s}
log: {format: json, level: info}
slack:
  mode: http
  signing_secret: ${env:INFRABOT_E2E_SLACK_SIGNING}
  bot_token: ${env:INFRABOT_E2E_SLACK_TOKEN}
  api_url: %s
`, public, fake.APIURL()) + extra)
}

// startService starts `infrabot run` for a new bot on sim, its config
// with extra appended.
func startService(t *testing.T, sim *simulator.Simulator, extra string) *service {
	t.Helper()
	return runService(t, newBot(t, sim), extra)
}

// runService starts `infrabot run` for b, its config with extra appended,
// and waits until it listens.
func runService(t *testing.T, b *bot, extra string) *service {
	t.Helper()
	fake := slacktest.NewServer(t, e2eBotToken)
	public, adminAddr := actionstest.FreeAddr(t), actionstest.FreeAddr(t)
	s := &service{t: t, b: b, fake: fake, logs: &actionstest.Buffer{}, admin: "http://" + adminAddr,
		config: filepath.Join(b.dir, "service.yaml"), done: make(chan error, 1),
		slack: &slacktest.App{URL: "http://" + public, Secret: e2eSigningSecret, Workspace: fake}}
	if err := os.WriteFile(s.config, serviceConfig(t, b, fake, public, adminAddr, extra), 0o600); err != nil {
		t.Fatal(err)
	}
	s.launch()
	actionstest.WaitListening(t, public)
	actionstest.WaitListening(t, adminAddr)
	return s
}

// launch starts `infrabot run` with s.config, its output in s.logs, and
// kills it when the test ends if it is still running.
func (s *service) launch() {
	s.t.Helper()
	s.cmd = exec.Command(binary, "run", "--config", s.config)
	s.cmd.Env = append(s.b.env, "INFRABOT_E2E_SLACK_SIGNING="+e2eSigningSecret, "INFRABOT_E2E_SLACK_TOKEN="+e2eBotToken)
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	s.t.Cleanup(func() {
		if s.cmd.ProcessState == nil {
			s.cmd.Process.Kill()
			<-s.done
		}
	})
}

// readyz returns /readyz's status code and answer.
func (s *service) readyz() (int, admin.Readiness) {
	s.t.Helper()
	resp, err := http.Get(s.admin + "/readyz")
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var rd admin.Readiness
	body, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(body, &rd); err != nil {
		s.t.Fatalf("/readyz is not JSON: %s", body)
	}
	return resp.StatusCode, rd
}

func (s *service) signal(sig os.Signal) {
	s.t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatal(err)
	}
}

// stop waits for the process to exit by itself, within limit.
func (s *service) wait(limit time.Duration) error {
	s.t.Helper()
	select {
	case err := <-s.done:
		return err
	case <-time.After(limit):
		s.t.Fatalf("infrabot run did not stop within %s\n%s", limit, s.logs.String())
		return nil
	}
}

// logLines are the JSON log lines so far.
func (s *service) logLines() []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(s.logs.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var rec map[string]any
		if json.Unmarshal(sc.Bytes(), &rec) == nil {
			out = append(out, rec)
		}
	}
	return out
}

func (s *service) waitLog(what string, match func(map[string]any) bool) map[string]any {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, rec := range s.logLines() {
			if match(rec) {
				return rec
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("no log line: %s\n%s", what, s.logs.String())
	return nil
}

// TestServiceStory: a scripted session through Slack, then /readyz and
// /metrics (parsed with Prometheus' parser) agree with what happened;
// SIGHUP with a broken config keeps the old one, with a good one a new
// person can run a command at once; every log line about a run names it
// and its environment; SIGTERM stops cleanly with the audit log intact.
func TestServiceStory(t *testing.T) {
	t.Parallel()
	sim := startSimulator(t)
	s := startService(t, sim, "")
	fake := s.fake

	code, rd := s.readyz()
	if code != http.StatusOK || rd.Status != "ready" {
		t.Fatalf("/readyz: %d %+v", code, rd)
	}
	parts := map[string]admin.PartState{}
	for _, p := range rd.Parts {
		parts[p.Name] = p
	}
	for _, name := range []string{"store", "scheduler", "slack", "commands"} {
		if !parts[name].OK || parts[name].State == "" {
			t.Errorf("/readyz part %s: %+v", name, parts[name])
		}
	}

	s.slack.Command(t, "U01ALICE", "C0INFRA", "provision staging")
	fake.WaitFor(t, "provision succeeding", func() bool { return hasMessage(fake, "run 1 `provision staging` by alice: succeeded") })
	s.slack.Command(t, "U02BOB", "C0INFRA", "teardown staging")
	fake.WaitFor(t, "the approval request", func() bool { return hasMessage(fake, "request 2") })
	s.slack.Command(t, "U03CAROL", "C0INFRA", "lock staging")
	s.slack.Command(t, "U03CAROL", "C0INFRA", "whoami")
	fake.WaitFor(t, "carol's whoami", func() bool { return hasMessage(fake, "you are carol") })
	s.slack.Command(t, "U09FRANK", "C0INFRA", "whoami")
	fake.WaitFor(t, "frank's whoami", func() bool { return hasMessage(fake, "does not know you") })

	fams := admintest.Scrape(t, s.admin+"/metrics")
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"infrabot_commands_total", []string{"action=provision", "outcome=ok"}, 1},
		{"infrabot_commands_total", []string{"action=teardown", "outcome=ok"}, 1},
		{"infrabot_commands_total", []string{"action=lock", "outcome=permission"}, 1},
		{"infrabot_commands_total", []string{"action=whoami", "outcome=ok"}, 2},
		{"infrabot_approval_requests_total", []string{"outcome=requested"}, 1},
		{"infrabot_approval_requests_total", []string{"outcome=approved"}, 0},
		{"infrabot_run_duration_seconds", []string{"action=provision", "outcome=succeeded"}, 1},
		{"infrabot_audit_records_total", []string{"event=approval-requested"}, 1},
		{"infrabot_runs_in_progress", nil, 0},
		{"infrabot_ready", []string{"part=slack"}, 1},
		{"infrabot_ready", []string{"part=store"}, 1},
	} {
		if v, ok := fams.Value(c.name, c.labels...); !ok || v != c.want {
			t.Errorf("%s%v = %v (found %v), want %v", c.name, c.labels, v, ok, c.want)
		}
	}
	if v, ok := fams.Value("infrabot_store_size_bytes"); !ok || v < 4096 {
		t.Errorf("infrabot_store_size_bytes = %v %v", v, ok)
	}
	// Nothing so far was spoken first: bob's request was answered in the
	// shared channel it was typed in, not sent to an approvals channel.
	for _, result := range []string{"sent", "failed"} {
		if v, ok := fams.Value("infrabot_notifications_total", "result="+result); !ok || v != 0 {
			t.Errorf("infrabot_notifications_total{%s} = %v (found %v), want 0 before anything was notified", result, v, ok)
		}
	}
	if _, ok := fams.Value("infrabot_chat_queue_depth", "platform=slack"); !ok {
		t.Error("infrabot_chat_queue_depth{slack} is not reported")
	}
	// On-call is wired but this config pages no one: every way, both
	// results, at 0.
	for _, via := range []string{"chat", "pagerduty", "webhook"} {
		for _, result := range []string{"sent", "failed"} {
			if v, ok := fams.Value("infrabot_pages_total", "via="+via, "result="+result); !ok || v != 0 {
				t.Errorf("infrabot_pages_total{%s,%s} = %v (found %v), want 0", via, result, v, ok)
			}
		}
	}
	// What went to the fake Slack is counted by call and result.
	if v, ok := fams.Value("infrabot_chat_calls_total", "platform=slack", "call=post", "result=delivered"); !ok || v < 2 {
		t.Errorf("infrabot_chat_calls_total{slack,post,delivered} = %v (found %v), want the request and the runs' messages", v, ok)
	}
	if v, ok := fams.Value("infrabot_chat_calls_total", "platform=slack", "call=answer", "result=delivered"); !ok || v < 1 {
		t.Errorf("infrabot_chat_calls_total{slack,answer,delivered} = %v (found %v), want the replies carried in acknowledgements", v, ok)
	}
	if v, ok := fams.Value("infrabot_chat_calls_total", "platform=slack", "call=post", "result=failed"); !ok || v != 0 {
		t.Errorf("infrabot_chat_calls_total{slack,post,failed} = %v (found %v), want 0", v, ok)
	}

	// Every line about a run names it and its environment, the cloud
	// adapter's lines during the run included.
	var created int
	for _, rec := range s.logLines() {
		if _, ok := rec["run"]; ok && rec["env"] == nil {
			t.Errorf("a line about a run has no environment: %v", rec)
		}
		if rec["msg"] == "openstack: server created" {
			created++
			if rec["run"] != float64(1) || rec["env"] != "staging" {
				t.Errorf("the cloud's line during run 1 does not name it: %v", rec)
			}
		}
	}
	if created != 3 {
		t.Errorf("%d 'server created' lines, want 3", created)
	}

	// SIGHUP with a broken config (frank added, and a typo): refused with
	// file:line, the old one stays and frank is still unknown.
	good, err := os.ReadFile(s.config)
	if err != nil {
		t.Fatal(err)
	}
	withFrank := strings.Replace(string(good), "carol: {roles: [viewer], slack: U03CAROL}", "carol: {roles: [viewer], slack: U03CAROL}\n  frank: {roles: [admin], slack: U09FRANK}", 1)
	broken := strings.Replace(withFrank, "carol: {roles: [viewer], slack: U03CAROL}", "carol: {roles: [viewr], slack: U03CAROL}", 1)
	os.WriteFile(s.config, []byte(broken), 0o600)
	s.signal(syscall.SIGHUP)
	refused := s.waitLog("the reload refused", func(r map[string]any) bool { return r["msg"] == "config reload refused" })
	line := strings.Count(broken[:strings.Index(broken, "viewr")], "\n") + 1
	if p, _ := refused["problem"].(string); !strings.Contains(p, fmt.Sprintf("service.yaml:%d:", line)) || !strings.Contains(p, `"viewr"`) {
		t.Errorf("the refusal does not say file:line: %v", refused)
	}
	unknown := func() int { return countMessages(fake, "does not know you") }
	before := unknown()
	s.slack.Command(t, "U09FRANK", "C0INFRA", "lock staging")
	fake.WaitFor(t, "frank still unknown", func() bool { return unknown() > before })

	// A good config: frank joins and can run a command without a restart;
	// bob's pending request is still there to approve.
	os.WriteFile(s.config, []byte(withFrank), 0o600)
	s.signal(syscall.SIGHUP)
	s.waitLog("the reload applied", func(r map[string]any) bool { return r["msg"] == "config reloaded" })
	s.slack.Command(t, "U09FRANK", "C0INFRA", "whoami")
	fake.WaitFor(t, "frank known", func() bool { return hasMessage(fake, "you are frank") })
	request, _ := findMessage(fake, "request 2")
	s.slack.Click(t, "U09FRANK", request, "Approve")
	fake.WaitFor(t, "frank's approval running the teardown", func() bool { return hasMessage(fake, "run 2 `teardown staging` by bob: succeeded") })

	// alice breaks bob's lock: bob hears it from infrabot by direct
	// message, a notification.
	s.slack.Command(t, "U02BOB", "C0INFRA", `lock staging "metrics"`)
	fake.WaitFor(t, "bob's lock", func() bool { return hasMessage(fake, "staging is locked by bob") })
	s.slack.Command(t, "U01ALICE", "C0INFRA", "unlock staging --force")
	fake.WaitFor(t, "bob told of the broken lock", func() bool { return hasMessage(fake, "alice broke your lock on staging") })
	fake.WaitFor(t, "alice's answer", func() bool { return hasMessage(fake, "bob's lock on staging is broken") })

	fams = admintest.Scrape(t, s.admin+"/metrics")
	for _, c := range []struct {
		result string
		want   float64
	}{{"sent", 1}, {"failed", 0}} {
		if v, ok := fams.Value("infrabot_notifications_total", "result="+c.result); !ok || v != c.want {
			t.Errorf("infrabot_notifications_total{%s} = %v (found %v), want %v: the direct message to bob", c.result, v, ok, c.want)
		}
	}
	for _, c := range []struct {
		labels []string
		want   float64
	}{{[]string{"result=applied"}, 1}, {[]string{"result=refused"}, 1}} {
		if v, ok := fams.Value("infrabot_config_reloads_total", c.labels...); v != c.want || !ok {
			t.Errorf("infrabot_config_reloads_total%v = %v, want %v", c.labels, v, c.want)
		}
	}
	if v, _ := fams.Value("infrabot_approval_requests_total", "outcome=approved"); v != 1 {
		t.Errorf("approvals approved = %v, want 1", v)
	}

	s.signal(syscall.SIGTERM)
	if err := s.wait(30 * time.Second); err != nil {
		t.Errorf("infrabot run did not stop cleanly: %v\n%s", err, s.logs.String())
	}
	out, code := s.b.infrabot("audit", "verify", "--config", s.config)
	if code != 0 {
		t.Fatalf("audit verify: %d %s", code, out)
	}
	audit := s.b.shell("alice", "audit 40")
	expect(t, audit, "config-reload-refused", "config-reloaded", "people +frank")
	if strings.Contains(s.logs.String(), e2eBotToken) || strings.Contains(s.logs.String(), simPassword) {
		t.Error("a secret is in the log")
	}
}

func countMessages(fake *slacktest.Server, text string) int {
	n := 0
	for _, m := range fake.Messages("") {
		if strings.Contains(m.Text, text) {
			n++
		}
	}
	return n
}

// slowSimulator builds servers slowly enough for a stop to land during a
// provision.
func slowSimulator(t *testing.T, build time.Duration) *simulator.Simulator {
	t.Helper()
	sim := simulator.New(simulator.Options{Password: simPassword, BuildDelay: build, DeleteDelay: 100 * time.Millisecond})
	if err := sim.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	return sim
}

// TestGracefulStop: SIGTERM during a run lets it finish within the grace
// period, commands meanwhile are answered "shutting down" and /readyz
// says so; past the grace period the run is marked interrupted. The audit
// log checks out either way.
func TestGracefulStop(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name  string
		grace string
		want  string
	}{
		{"within grace", "60s", "succeeded"},
		{"past grace", "300ms", "interrupted"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			sim := slowSimulator(t, 3*time.Second)
			s := startService(t, sim, "shutdown: {grace: "+c.grace+"}\n")
			s.slack.Command(t, "U01ALICE", "C0INFRA", "provision staging")
			s.fake.WaitFor(t, "the provision running", func() bool { return hasMessage(s.fake, "run 1 `provision staging` by alice: running") })
			s.signal(syscall.SIGTERM)
			s.waitLog("stopping", func(r map[string]any) bool { return strings.HasPrefix(fmt.Sprint(r["msg"]), "stopping") })
			if c.want == "succeeded" {
				code, rd := s.readyz()
				if code != http.StatusServiceUnavailable || !strings.Contains(fmt.Sprint(rd.Parts), "shutting down") {
					t.Errorf("/readyz while stopping: %d %+v", code, rd)
				}
				s.slack.Command(t, "U02BOB", "C0INFRA", "lock scratch")
				s.fake.WaitFor(t, "the refusal", func() bool { return hasMessage(s.fake, "infrabot is shutting down") })
			}
			if err := s.wait(30 * time.Second); err != nil {
				t.Fatalf("infrabot run did not stop cleanly: %v\n%s", err, s.logs.String())
			}
			if !hasMessage(s.fake, "run 1 `provision staging` by alice: "+c.want) && !hasMessage(s.fake, "state: "+c.want) {
				for _, m := range s.fake.Messages("") {
					t.Logf("slack: %s", m.Text)
				}
				t.Errorf("Slack never saw the run %s\n%s", c.want, s.logs.String())
			}
			out := s.b.shell("alice", "run 1", "audit 5")
			expect(t, out, c.want)
			if out, code := s.b.infrabot("audit", "verify", "--config", s.config); code != 0 {
				t.Fatalf("audit verify: %d %s", code, out)
			}
		})
	}
}

// TestBackupWhileRunning takes `infrabot backup` while `infrabot run`
// holds the store and commands keep coming, restores the copy as another
// deployment's store, and that store passes `audit verify` and shows the
// history.
func TestBackupWhileRunning(t *testing.T) {
	t.Parallel()
	sim := startSimulator(t)
	s := startService(t, sim, "")
	s.slack.Command(t, "U01ALICE", "C0INFRA", "provision staging")
	s.fake.WaitFor(t, "provision succeeding", func() bool { return hasMessage(s.fake, "run 1 `provision staging` by alice: succeeded") })

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 200; i++ {
			select {
			case <-stop:
				return
			default:
			}
			s.slack.Command(t, "U01ALICE", "C0INFRA", []string{"lock scratch", "unlock scratch"}[i%2])
			time.Sleep(5 * time.Millisecond)
		}
	}()
	backup := filepath.Join(t.TempDir(), "infrabot-backup.db")
	out, code := s.b.infrabot("backup", "--config", s.config, backup)
	close(stop)
	wg.Wait()
	if code != 0 {
		t.Fatalf("infrabot backup: exit %d\n%s\n%s", code, out, s.logs.String())
	}
	expect(t, out, "written to "+backup, "audit log ok")
	if out, code := s.b.infrabot("backup", "--config", s.config, backup); code == 0 || !strings.Contains(out, "exists already") {
		t.Errorf("a second backup over the first: %d %s", code, out)
	}

	// Restore: the copy becomes the store of another deployment.
	restored := t.TempDir()
	data, err := os.ReadFile(backup)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(restored, "infrabot.db"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _ := os.ReadFile(s.b.config)
	restoredConfig := filepath.Join(restored, "infrabot.yaml")
	os.WriteFile(restoredConfig, []byte(strings.Replace(string(cfg), s.b.dir, restored, 1)), 0o600)
	if out, code := s.b.infrabot("audit", "verify", "--config", restoredConfig); code != 0 || !strings.Contains(out, "hash chain intact") {
		t.Fatalf("audit verify of the restored store: %d %s", code, out)
	}
	r := &bot{t: t, dir: restored, config: restoredConfig, env: s.b.env}
	expect(t, r.shell("alice", "runs"), "provision staging")

	s.signal(syscall.SIGTERM)
	if err := s.wait(30 * time.Second); err != nil {
		t.Errorf("infrabot run did not stop cleanly: %v", err)
	}
}
