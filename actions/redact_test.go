package actions_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/actionstest"
)

func TestRedactorRemovesEverySpellingOfASecret(t *testing.T) {
	t.Parallel()
	r := actions.NewRedactor(`pa"ss/wo rd&1`, "xoxb-123-abc", "", "abc")
	tests := []struct{ name, in, want string }{
		{"raw", `login failed for pa"ss/wo rd&1`, "login failed for [redacted]"},
		{"echoed in JSON", `{"password": "pa\"ss/wo rd&1"}`, `{"password": "[redacted]"}`},
		{"echoed in JSON with HTML escapes", `{"password": "pa\"ss/wo rd\u00261"}`, `{"password": "[redacted]"}`},
		{"a request body quoted in a JSON error", `{"message": "body={\"password\": \"pa\\\"ss/wo rd\\u00261\"}"}`, `{"message": "body={\"password\": \"[redacted]\"}"}`},
		{"echoed in a form", "password=pa%22ss%2Fwo+rd%261&x=1", "password=[redacted]&x=1"},
		{"in a path", "GET /v1/pa%22ss%2Fwo%20rd&1", "GET /v1/[redacted]"},
		{"a token", "invalid_auth: Bearer xoxb-123-abc", "invalid_auth: Bearer [redacted]"},
		{"a too-short value is a word, not a secret", "abc def", "abc def"},
	}
	for _, tc := range tests {
		if got := r.String(tc.in); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	var nilR *actions.Redactor
	if nilR.String("x") != "x" {
		t.Error("a nil redactor changed text")
	}
}

func TestRedactorRedactsMultiLineSecretsLineByLine(t *testing.T) {
	t.Parallel()
	key := "-----BEGIN KEY-----\nMIIEpAIBAAKCAQEA\nshort\n-----END KEY-----\n"
	r := actions.NewRedactor(key, "s3cret-token", "s3cret")
	// Remote output reaches the redactor one line at a time: each line
	// of the key is hidden on its own; a line too short to be a secret
	// is a word.
	tests := []struct{ in, want string }{
		{"MIIEpAIBAAKCAQEA", "[redacted]"},
		{"key MIIEpAIBAAKCAQEA here", "key [redacted] here"},
		{"short", "short"},
		{"token=s3cret-token s3cret", "token=[redacted] [redacted]"},
		{key, "[redacted]"},
	}
	for _, tc := range tests {
		if got := r.String(tc.in); got != tc.want {
			t.Errorf("%q: %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRedactorKeepsSecretsOutOfTheLog(t *testing.T) {
	t.Parallel()
	r := actions.NewRedactor("hunter2-secret")
	var buf bytes.Buffer
	log := slog.New(r.Handler(slog.NewJSONHandler(&buf, nil))).With("cloud", "hunter2-secret")
	log.Error("auth with hunter2-secret failed", "err", errors.New("400: {\"password\":\"hunter2-secret\"}"),
		slog.Group("req", "body", "hunter2-secret"), "n", 3)
	out := buf.String()
	if strings.Contains(out, "hunter2") || strings.Count(out, "[redacted]") != 4 || !strings.Contains(out, `"n":3`) {
		t.Errorf("log line: %s", out)
	}
}

// A command's error may quote a remote system that echoed a secret back
// (a cloud's "bad password …"); the reply goes to chat through the
// adapter, so the engine must redact it as it does a success.
func TestErrorRepliesAreRedacted(t *testing.T) {
	t.Parallel()
	const secret = "hunter2-very-secret"
	w := actionstest.New(t, actionstest.Options{
		Redactor: actions.NewRedactor(secret),
		Setup: func(w *actionstest.World) {
			h, err := w.Engine.Module("probe")
			if err != nil {
				t.Fatal(err)
			}
			h.Register(&actions.Action{Name: "probe", Summary: "asks the cloud", Query: func(ctx context.Context, req *actions.Request) (actions.Message, error) {
				return actions.Message{}, actions.Errorf(actions.Conflict, "the cloud said: bad password %s", secret)
			}})
		},
	})
	r := w.As("alice", "probe")
	w.Expect(r, true, "the cloud said: bad password "+actions.Redacted)
	if text := r.Summary + r.Text; strings.Contains(text, secret) {
		t.Errorf("the error reply carries the secret: %q", text)
	}
}

// Every part of a message a person sees is redacted: its text, fields,
// lines, links (label and URL) and buttons (label and command).
func TestRedactorRedactsEveryPartOfAMessage(t *testing.T) {
	t.Parallel()
	const secret = "s3cret-token-42"
	r := actions.NewRedactor(secret)
	in := actions.Message{
		Summary: "summary " + secret, Title: "title " + secret, Text: "text " + secret, Footer: "footer " + secret,
		Fields:  []actions.Field{{Label: "label " + secret, Value: "value " + secret}},
		Lines:   []string{"line " + secret},
		Links:   []actions.Link{{Label: "log " + secret, URL: "https://ci.example/log?token=" + secret}},
		Buttons: []actions.Button{{Label: "retry " + secret, Command: "deploy staging " + secret, Style: actions.ToneDanger}},
		Tone:    actions.ToneWarning,
	}
	out := r.Message(in)
	if got := fmt.Sprintf("%+v", out); strings.Contains(got, secret) {
		t.Errorf("the message still carries the secret: %s", got)
	}
	if out.Links[0].URL != "https://ci.example/log?token="+actions.Redacted || out.Buttons[0].Command != "deploy staging "+actions.Redacted ||
		out.Buttons[0].Style != actions.ToneDanger || out.Tone != actions.ToneWarning {
		t.Errorf("redacted message: %+v", out)
	}
	if !strings.Contains(in.Links[0].URL, secret) || !strings.Contains(in.Buttons[0].Label, secret) {
		t.Error("redacting changed the caller's message")
	}
}

// A reload teaches the redactor a rotated secret: the log handler and
// chats made with it before redact the new value too, and the old one
// stays redacted.
func TestRedactorLearnsRotatedSecrets(t *testing.T) {
	t.Parallel()
	r := actions.NewRedactor()
	var buf bytes.Buffer
	log := slog.New(r.Handler(slog.NewTextHandler(&buf, nil)))
	r.Learn("old-password-1")
	r.Learn("new-password-2", "old-password-1")
	log.Info("auth", "err", errors.New("refused old-password-1 and new-password-2"))
	if out := buf.String(); strings.Contains(out, "password-") || strings.Count(out, actions.Redacted) != 2 {
		t.Errorf("log line: %s", out)
	}
	if got := r.Message(actions.Message{Summary: "new-password-2"}).Summary; got != actions.Redacted {
		t.Errorf("message: %q", got)
	}
}
