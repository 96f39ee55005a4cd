package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/actionstest"
	"github.com/infrabot/infrabot/bot"
	"github.com/infrabot/infrabot/bot/console"
	"github.com/infrabot/infrabot/bot/slack/slacktest"
	"github.com/infrabot/infrabot/config"
)

// plantCanaries sets every config.Secret reachable from v (structs,
// pointers, which it allocates, maps, slices) to a canary of its own, and
// returns the canaries by field path. A Secret field added anywhere in the
// config gets one without this test changing.
func plantCanaries(v reflect.Value, path string, out map[string]string) {
	secretType := reflect.TypeFor[config.Secret]()
	switch v.Kind() {
	case reflect.Pointer:
		if !holdsSecret(v.Type().Elem(), secretType, map[reflect.Type]bool{}) {
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		plantCanaries(v.Elem(), path, out)
	case reflect.Struct:
		if v.Type() == secretType {
			// A token of letters and digits, which survives any quoting
			// and is what the test looks for, then characters that
			// JSON, forms and URLs escape: the redactor must know every
			// spelling a remote system may quote the secret back in.
			canary := canaryToken(len(out)+1) + `/"&x y`
			v.Set(reflect.ValueOf(config.SecretValue(canary)))
			out[path] = canary
			return
		}
		for i := range v.NumField() {
			if f := v.Type().Field(i); f.IsExported() {
				plantCanaries(v.Field(i), path+"."+f.Name, out)
			}
		}
	case reflect.Map:
		if !holdsSecret(v.Type().Elem(), secretType, map[reflect.Type]bool{}) {
			return
		}
		if v.IsNil() {
			v.Set(reflect.MakeMap(v.Type()))
		}
		if v.Len() == 0 {
			v.SetMapIndex(reflect.ValueOf("canary").Convert(v.Type().Key()), reflect.Zero(v.Type().Elem()))
		}
		for _, k := range v.MapKeys() {
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(v.MapIndex(k))
			plantCanaries(e, fmt.Sprintf("%s[%v]", path, k), out)
			v.SetMapIndex(k, e)
		}
	case reflect.Slice:
		if !holdsSecret(v.Type().Elem(), secretType, map[reflect.Type]bool{}) {
			return
		}
		if v.Len() == 0 {
			v.Set(reflect.Append(v, reflect.Zero(v.Type().Elem())))
		}
		for i := range v.Len() {
			plantCanaries(v.Index(i), fmt.Sprintf("%s[%d]", path, i), out)
		}
	}
}

// canaryToken is the part of canary n that any spelling of it shows.
func canaryToken(n int) string { return fmt.Sprintf("cAnArY%dzQ", n) }

func holdsSecret(t, secret reflect.Type, seen map[reflect.Type]bool) bool {
	if t == secret {
		return true
	}
	if seen[t] {
		return false
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map:
		return holdsSecret(t.Elem(), secret, seen)
	case reflect.Struct:
		for i := range t.NumField() {
			if t.Field(i).IsExported() && holdsSecret(t.Field(i).Type, secret, seen) {
				return true
			}
		}
	}
	return false
}

// echoServer is every remote system at its least discreet: it refuses
// every call and quotes the request back in its error, credentials
// included, as proxies and WAFs do. It speaks just enough of Keystone
// (a 400 with an OpenStack error body) and of Slack's Web API (ok:false)
// for the real client libraries to surface the text. What infrabot asked
// Slack to show, tokens stripped, is kept as chat output.
type echoServer struct {
	*httptest.Server
	mu   sync.Mutex
	said []string
}

func newEchoServer(t *testing.T) *echoServer {
	e := &echoServer{}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		echo := fmt.Sprintf("%s %s auth=%q body=%s", r.Method, r.URL.Path, r.Header.Get("Authorization"), body)
		if strings.HasPrefix(r.URL.Path, "/slack/") {
			form, _ := url.ParseQuery(string(body))
			form.Del("token")
			e.mu.Lock()
			e.said = append(e.said, form.Encode())
			e.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": "invalid_auth: " + echo})
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": 400, "title": "Bad Request", "message": "Invalid input: " + echo}})
	}))
	t.Cleanup(e.Close)
	return e
}

func (e *echoServer) chat() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return strings.Join(e.said, "\n")
}

// TestNoSecretLeaves plants a canary in every secret field of the config,
// drives the failing paths of the config, OpenStack and Slack against
// systems that echo credentials back, and looks for the canaries in every
// log line, chat message, audit record and the store's file.
func TestNoSecretLeaves(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	echo := newEchoServer(t)
	placeholder := filepath.Join(dir, "placeholder")
	os.WriteFile(placeholder, []byte("placeholder-secret"), 0o600)
	cfg, err := config.Parse("canary.yaml", []byte(fmt.Sprintf(`storage:
  path: %[1]s/infrabot.db
people:
  alice: {roles: [admin], slack: U01ALICE}
roles:
  admin:
    allow: ["*"]
    environments: ["*"]
clouds:
  echo:
    auth_url: %[2]s/v3
    username: infrabot
    password: ${file:%[3]s}
    project: infra
    domain: Default
environments:
  staging:
    cloud: echo
    servers:
      - {name: web, flavor: m1.small, image: cirros, networks: [private]}
http: {listen: "127.0.0.1:0"}
slack:
  mode: http
  signing_secret: ${file:%[3]s}
  bot_token: ${file:%[3]s}
  app_token: ${file:%[3]s}
  api_url: %[2]s/slack/
`, dir, echo.URL, placeholder)))
	if err != nil {
		t.Fatal(err)
	}
	canaries := map[string]string{}
	plantCanaries(reflect.ValueOf(cfg), "config", canaries)
	if len(canaries) < 4 {
		t.Fatalf("only %d secret fields found: %v", len(canaries), canaries)
	}
	// The redactor is built from what the config says its secrets are:
	// that must be every secret field.
	known := strings.Join(cfg.SecretValues(), "\n")
	for field, c := range canaries {
		if !strings.Contains(known, c) {
			t.Errorf("config.SecretValues() misses %s", field)
		}
	}

	// Sections made only to hold a canary get what makes them valid, and
	// point at the echoing server, so their failing paths run too.
	for i := range cfg.CI {
		if cfg.CI[i].Type == "" {
			cfg.CI[i].Name, cfg.CI[i].Type, cfg.CI[i].URL, cfg.CI[i].User = "canary", "jenkins", echo.URL+"/jenkins", "infrabot"
			cfg.CI[i].Jobs = []string{"promote"}
			cfg.CI[i].Schedule = "@every 5m"
		}
	}
	for i := range cfg.Checks {
		if cfg.Checks[i].Type == "" { // a heartbeat's token
			cfg.Checks[i].Name, cfg.Checks[i].Type, cfg.Checks[i].Period = "canary", "heartbeat", config.Duration(time.Hour)
		}
	}
	// PagerDuty and webhooks are sent to the echoing server too.
	cfg.PagerDuty.URL = echo.URL + "/pagerduty"
	for name, w := range cfg.Webhooks {
		w.URL = echo.URL + "/hook"
		cfg.Webhooks[name] = w
	}
	if d := cfg.Discord; d != nil && d.Mode == "" {
		cfg.Discord = nil // Discord's own leak tests are in bot/discord
	}

	var logs actionstest.Buffer
	if env := cfg.Environments["staging"]; env.SSH != nil && env.SSH.User == "" {
		// Made only for its canaries: a canary is no private key, and
		// infrabot refuses to start, without saying the key; then the
		// section goes, for the rest of the story.
		env.SSH.User = "infrabot"
		if _, err := NewApp(cfg, &logs); err == nil || strings.Contains(err.Error(), "cAnArY") || !strings.Contains(err.Error(), "private key") {
			t.Errorf("starting with a canary for a private key: %v", err)
		}
		env.SSH = nil
		cfg.Environments["staging"] = env
	}
	app, err := NewApp(cfg, &logs)
	if err != nil {
		t.Fatal(err)
	}
	var screen actionstest.Buffer
	con := console.New(&screen, false)
	app.Engine.AddChat(console.Platform, con)
	ctx := context.Background()

	// OpenStack: the identity endpoint echoes the password it was sent.
	for _, line := range []string{"plan staging", "provision staging", "status staging", "status", "teardown staging"} {
		con.Say(app.Engine.Execute(ctx, actions.Invocation{Person: "alice", Text: line, Origin: actions.Origin{Platform: console.Platform, Channel: "console"}}))
	}

	// Slack: every Web API call is refused with the token quoted back,
	// for commands signed with the canary signing secret.
	adapters, err := chatAdapters(app)
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, len(adapters))
	for _, serve := range adapters {
		go func() { done <- serve(sctx) }()
	}
	listen := servingAddr(t, &logs)
	slack := &slacktest.App{URL: "http://" + listen, Secret: cfg.Slack.SigningSecret.Value()}
	for _, line := range []string{"plan staging", "whoami", "lock staging"} {
		if r := slack.Command(t, "U01ALICE", "C0INFRA", line); r.Status != http.StatusOK {
			t.Errorf("%q answered %d", line, r.Status)
		}
	}
	// Heartbeats: a job pings with the canary token, successfully, then
	// with a failure that opens an incident in the console.
	for _, path := range []string{"", "/start", "/fail"} {
		token := cfg.Checks[0].Token.Value()
		resp, err := http.Post("http://"+listen+"/ping/"+url.PathEscape(token)+path, "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("ping%s answered %d", path, resp.StatusCode)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(logs.String(), "could not") < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	for range adapters {
		if err := <-done; err != nil {
			t.Logf("an adapter ended with: %v", err)
		}
	}
	// Socket mode: apps.connections.open quotes the app token back.
	cfg.Slack.Mode = "socket"
	serve, err := slackAdapter(app, nil)
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop = context.WithTimeout(ctx, 3*time.Second)
	go func() { done <- serve(sctx) }()
	for !strings.Contains(logs.String(), "socket mode") && sctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		fmt.Fprintln(&logs, "socket mode ended:", err) // what `infrabot run` would print
	}

	audit, err := app.DB.Tail(ctx, 1000)
	if err != nil {
		t.Fatal(err)
	}
	auditText, _ := json.Marshal(audit)
	app.Close()
	db, err := os.ReadFile(cfg.Storage.Path)
	if err != nil {
		t.Fatal(err)
	}

	// Config: a secret written literally where a reference belongs is
	// refused without being repeated.
	literal := filepath.Join(dir, "literal.yaml")
	os.WriteFile(literal, []byte("clouds:\n  c:\n    auth_url: http://x\n    password: "+canaries["config.Clouds[echo].Password"]+"\n"), 0o600)
	var configOut bytes.Buffer
	configErr := cmdConfigCheck([]string{literal}, &configOut)
	if configErr == nil {
		t.Error("a literal secret in the config was accepted")
	} else {
		fmt.Fprintln(&configOut, configErr)
	}

	if !strings.Contains(logs.String(), "Invalid input") || !strings.Contains(logs.String(), "invalid_auth") {
		t.Fatalf("the echoing systems were not reached; logs:\n%s", logs.String())
	}
	places := map[string]string{
		"log": logs.String(), "console chat": screen.String(), "slack chat": echo.chat(),
		"audit records": string(auditText), "store file": string(db), "config check": configOut.String(),
	}
	for field, c := range canaries {
		token := c[:strings.IndexByte(c, '/')]
		for where, text := range places {
			if strings.Contains(text, token) {
				t.Errorf("the secret of %s is in the %s:\n%s", field, where, excerpt(text, token))
			}
		}
	}
	if !strings.Contains(logs.String(), actions.Redacted) {
		t.Error("nothing was redacted: the paths that echo secrets were not driven")
	}
}

// excerpt shows where s is in text.
func excerpt(text, s string) string {
	i := strings.Index(text, s)
	lo, hi := max(i-200, 0), min(i+len(s)+200, len(text))
	return bot.Terminal(text[lo:hi])
}

// servingAddr waits for the public server to say where it listens (it
// was given port 0: a port chosen beforehand may be taken by another
// test's connection before the server binds it).
func servingAddr(t *testing.T, logs *actionstest.Buffer) string {
	t.Helper()
	re := regexp.MustCompile(`msg="serving public HTTP endpoints".* listen=(\S+)`)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := re.FindStringSubmatch(logs.String()); m != nil {
			return m[1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("the public server never said where it listens:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
