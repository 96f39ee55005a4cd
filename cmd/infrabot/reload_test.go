package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/actionstest"
	"github.com/infrabot/infrabot/actions/zuul/zuultest"
)

// TestReloadRedactsRotatedSecrets: docs/operations.md rotates a cloud
// password with a reload, so after one the new password is as hidden as
// the old one was, in the log and in chat, and the old one stays hidden.
func TestReloadRedactsRotatedSecrets(t *testing.T) {
	t.Parallel()
	const oldPassword, newPassword = "old-password-0451", "new-password-7781"
	f := newOneAdminFile(t)
	pwFile := filepath.Join(f.dir, "cloud-password")
	if err := os.WriteFile(pwFile, []byte(oldPassword), 0o600); err != nil {
		t.Fatal(err)
	}
	f.write(fmt.Sprintf(`clouds:
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
`, pwFile))
	var logs actionstest.Buffer
	app := f.open(&logs)
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

// TestRefusedReloadKeepsALiteralSecretOut: a secret pasted where a list
// of references belongs refuses the reload, and the refusal says where
// and what was expected without the value, in the log and in the audit
// log, which keeps what it is given for good. The redactor cannot help:
// it knows only the secrets that resolved.
func TestRefusedReloadKeepsALiteralSecretOut(t *testing.T) {
	t.Parallel()
	const secret = "whsec-pasted-9f8e7d6c5b4a"
	f := newOneAdminFile(t)
	f.write("")
	var logs actionstest.Buffer
	app := f.open(&logs)
	f.write("pagerduty:\n  webhook_secrets: " + secret + "\n")
	if err := app.Reload(context.Background()); err == nil {
		t.Fatal("a reload with a literal secret was accepted")
	}
	records, err := app.DB.Tail(context.Background(), 50)
	if err != nil {
		t.Fatal(err)
	}
	var detail string
	for _, r := range records {
		if r.Event == "config-reload-refused" {
			detail = r.Detail
		}
	}
	if !strings.Contains(detail, "pagerduty.webhook_secrets: expected a list of secret references") {
		t.Errorf("the audit of the refusal does not say what was expected: %q", detail)
	}
	if strings.Contains(detail, secret) {
		t.Errorf("the audit log holds the secret: %s", detail)
	}
	if out := logs.String(); !strings.Contains(out, "config reload refused") || strings.Contains(out, secret) {
		t.Errorf("the log lacks the refusal or holds the secret:\n%s", out)
	}
}

// TestReloadSwapsSquadsSourcesAndDigests: a reload that adds a squad, a
// digest and a check and drops a CI source puts them in force without a
// restart:
// the new squad's jobs flow from the source's next poll, the digest that
// stays keeps its slot (no second posting), the dropped source is no
// longer polled, and the audit names what changed, none of it as waiting
// for a restart.
func TestReloadSwapsSquadsSourcesAndDigests(t *testing.T) {
	t.Parallel()
	z := zuultest.New("rdo", zuultest.Nested)
	defer z.Close()
	z.Add(zuultest.Build{UUID: "u1", Job: "periodic-standalone", Pipeline: "periodic", Project: "config", Branch: "master",
		Result: "FAILURE", Start: time.Now().Add(-2 * time.Hour), End: time.Now().Add(-time.Hour), LogURL: "https://logs.example/1/"})
	f := newOneAdminFile(t)
	base := fmt.Sprintf(`admin: {listen: "off"}
channels:
  default: {}
  dfg: {}
ci:
  - {name: rdo-zuul, type: zuul, url: "%s", tenant: rdo, pipelines: [periodic]}
`, z.URL)
	write := func(extra string) { f.write(base + extra) }
	write(`  - {name: other, type: zuul, url: "http://127.0.0.1:1", tenant: rdo}
squads:
  ci: {members: [alice], channel: default, jobs: ["nothing-*"]}
digests:
  - {schedule: "0 9 * * *", channel: default}
`)
	app := f.open(io.Discard)
	ctx := context.Background()
	if err := app.Sched.Load(ctx); err != nil {
		t.Fatal(err)
	}
	digestSlot, ok := app.Sched.Next("digest/default")
	if !ok {
		t.Fatal("the digest is not scheduled")
	}
	if _, ok := app.Sched.Next("cijobs/poll-other"); !ok {
		t.Fatal("the second source is not scheduled")
	}

	write(`squads:
  ci: {members: [alice], channel: default, jobs: ["nothing-*"]}
  dfg: {members: [alice], channel: dfg, jobs: ["periodic-*"]}
digests:
  - {schedule: "0 9 * * *", channel: default, include: [jobs]}
  - {schedule: "0 10 * * *", channel: dfg}
checks:
  - {name: registry, type: tcp, address: "127.0.0.1:1"}
`)
	if err := app.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if next, _ := app.Sched.Next("digest/default"); !next.Equal(digestSlot) {
		t.Errorf("the kept digest's slot moved from %s to %s", digestSlot, next)
	}
	if _, ok := app.Sched.Next("digest/dfg"); !ok {
		t.Error("the added digest is not scheduled")
	}
	if _, ok := app.Sched.Next("cijobs/poll-other"); ok {
		t.Error("the dropped source is still polled")
	}
	if err := app.ci.Poll(ctx, "rdo-zuul"); err != nil {
		t.Fatal(err)
	}
	reply := app.Engine.Execute(ctx, actions.Invocation{Person: "alice", Text: "jobs dfg", Origin: actions.Origin{Platform: "console"}})
	if text := strings.Join(reply.Lines, "\n"); !strings.Contains(text, "periodic-standalone") || !strings.Contains(text, "FAILURE") {
		t.Errorf("jobs of the squad added by the reload: %s\n%s", reply.Summary, text)
	}
	reply = app.Engine.Execute(ctx, actions.Invocation{Person: "alice", Text: "checks", Origin: actions.Origin{Platform: "console"}})
	if text := strings.Join(reply.Lines, "\n"); !strings.Contains(text, "registry") {
		t.Errorf("checks after a reload adding one: %s\n%s", reply.Summary, text)
	}
	if _, ok := app.Sched.Next("health/probe"); !ok {
		t.Error("the checks added by the reload are not probed")
	}
	records, err := app.DB.Tail(ctx, 50)
	if err != nil {
		t.Fatal(err)
	}
	var detail string
	for _, r := range records {
		if r.Event == "config-reloaded" {
			detail = r.Detail
		}
	}
	for _, want := range []string{"ci -other", "squads +dfg", "digests", "checks (+registry)"} {
		if !strings.Contains(detail, want) {
			t.Errorf("the audit of the reload lacks %q: %s", want, detail)
		}
	}
	if strings.Contains(detail, "next restart") {
		t.Errorf("the audit says something waits for a restart: %s", detail)
	}
}

// What the digest and openstack checks count of an environment's servers
// follows a reload: an environment added by it is counted, not "unknown".
func TestServerCountsFollowAReload(t *testing.T) {
	t.Parallel()
	f := newOneAdminFile(t)
	write := func(envs string) {
		t.Helper()
		f.write(fmt.Sprintf(`admin: {listen: "off"}
clouds:
  sim: {simulator: true}
environments:
  staging:
    cloud: sim
    servers:
      - {name: web, flavor: m1.small, image: cirros-0.6, networks: [private]}
%s`, envs))
	}
	write("")
	app := f.open(io.Discard)
	ctx := context.Background()
	write(`  qa:
    cloud: sim
    servers:
      - {name: db, count: 3, flavor: m1.small, image: cirros-0.6, networks: [private]}
`)
	if err := app.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	have, declared, err := serverCounts{app}.Servers(ctx, "qa")
	if err != nil || have != 0 || declared != 3 {
		t.Errorf("the digest counts qa as %d of %d servers (%v), want 0 of 3", have, declared, err)
	}
	names, _, err := app.envs.Servers(ctx, "qa")
	if err != nil || len(names) != 3 {
		t.Errorf("openstack checks see qa declaring %v (%v), want its 3 servers", names, err)
	}
}

// TestReloadRefusesACheckOnAnEscalationNotInForce: on-call takes effect
// at a restart, checks at a reload. A reload that adds an escalation and
// a check that follows it would leave the check's incidents paging
// nobody until the restart, so it is refused at the check's line, and
// the config in force stays; the same check on an escalation in force is
// taken.
func TestReloadRefusesACheckOnAnEscalationNotInForce(t *testing.T) {
	t.Parallel()
	f := newOneAdminFile(t)
	base := `admin: {listen: "off"}
channels:
  default: {}
oncall:
  escalations:
    day:
      - notify: person:alice
`
	f.write(base)
	app := f.open(io.Discard)
	ctx := context.Background()
	f.write(base + `    night:
      - notify: person:alice
checks:
  - {name: registry, type: tcp, address: "127.0.0.1:1", escalation: night}
`)
	err := app.Reload(ctx)
	if err == nil || !strings.Contains(err.Error(), f.path+`:16: check registry follows escalation "night", which is not in force: oncall takes effect at the next restart`) {
		t.Fatalf("reload = %v, want it refused at the check's line", err)
	}
	reply := app.Engine.Execute(ctx, actions.Invocation{Person: "alice", Text: "checks", Origin: actions.Origin{Platform: "console"}})
	if strings.Contains(strings.Join(reply.Lines, "\n"), "registry") {
		t.Errorf("the refused reload's check is in force: %s %v", reply.Summary, reply.Lines)
	}

	f.write(base + `checks:
  - {name: registry, type: tcp, address: "127.0.0.1:1", escalation: day}
`)
	if err := app.Reload(ctx); err != nil {
		t.Fatalf("a check on the escalation in force was refused: %v", err)
	}
}

// TestReloadRefusesAnSSHCheckBeforeItsSSHSettings: the SSH executors are
// made at start, so a reload that gives qa ssh settings and an ssh check
// on it is refused, saying the settings take effect at the next restart,
// rather than taken with a check that fails at every run (an incident, a
// page) until then.
func TestReloadRefusesAnSSHCheckBeforeItsSSHSettings(t *testing.T) {
	t.Parallel()
	f := newOneAdminFile(t)
	base := `admin: {listen: "off"}
channels:
  default: {}
clouds:
  sim: {simulator: true}
environments:
  qa:
    cloud: sim
    servers:
      - {name: web, flavor: m1.small, image: cirros-0.6, networks: [private]}
`
	f.write(base)
	app := f.open(io.Discard)
	ctx := context.Background()
	f.write(base + `    ssh: {user: centos, agent: true, trust_on_first_use: true}
checks:
  - {name: promoter, type: ssh, environment: qa, on: web, run: "true"}
`)
	err := app.Reload(ctx)
	if err == nil || !strings.Contains(err.Error(), "check promoter runs on qa, whose ssh settings take effect at the next restart") {
		t.Fatalf("reload = %v, want it refused: qa's ssh settings wait for a restart", err)
	}
	reply := app.Engine.Execute(ctx, actions.Invocation{Person: "alice", Text: "checks", Origin: actions.Origin{Platform: "console"}})
	if strings.Contains(strings.Join(reply.Lines, "\n"), "promoter") {
		t.Errorf("the refused reload's check is in force: %s %v", reply.Summary, reply.Lines)
	}
}
