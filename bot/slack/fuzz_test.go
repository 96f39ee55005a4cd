package slack

import "testing"

// FuzzParseInteraction feeds interactivity payloads and Events API bodies
// to the parsers: whatever arrives, they return an error or a request,
// never panic.
func FuzzParseInteraction(f *testing.F) {
	for _, s := range []string{
		`{"type":"block_actions","user":{"id":"U02BOB"},"channel":{"id":"C0INFRA"},"trigger_id":"1.2.3","actions":[{"action_id":"infrabot-0","value":"approve 1","type":"button"}]}`,
		`{"type":"block_actions","user":{"id":"U02BOB"},"container":{"channel_id":"C0INFRA"},"actions":[{"action_id":"other","value":"x"}]}`,
		`{"type":"view_submission","user":{"id":"U1"}}`,
		`{"type":"block_actions","actions":[null]}`,
		`{"type":"block_actions","user":{"id":"U1"},"channel":{"id":"C1"},"actions":[{"action_id":"infrabot-0","value":"   "}]}`,
		`[]`, `null`, `{`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		r, err := parseInteraction(payload)
		if in := r.line; err == nil && in != nil && (in.UserID == "" || in.Channel == "" || in.Text == "") {
			t.Fatalf("a command without user, channel or text: %+v", *in)
		}
	})
}

func FuzzParseEvent(f *testing.F) {
	for _, s := range []string{
		`{"type":"url_verification","challenge":"abc"}`,
		`{"type":"event_callback","event_id":"Ev1","event":{"type":"app_mention","user":"U01ALICE","channel":"C0INFRA","text":"<@U0BOT> whoami"}}`,
		`{"type":"event_callback","event_id":"Ev2","event":{"type":"message","channel_type":"im","user":"U03CAROL","channel":"D1","text":"help"}}`,
		`{"type":"event_callback","event_id":"Ev3","event":{"type":"message","subtype":"bot_message","bot_id":"B1","channel":"D1"}}`,
		`{"type":"event_callback","event":{"type":"reaction_added"}}`,
		`{"type":"event_callback","event":null}`,
		`{"type":"event_callback"}`,
		`{"type":"app_rate_limited"}`,
		`{`, `[]`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		_, _ = parseEvent(body)
	})
}

func FuzzCommandForm(f *testing.F) {
	f.Add("user_id=U02BOB&channel_id=C0INFRA&text=teardown+staging&trigger_id=1.2")
	f.Add("text=%zz")
	f.Fuzz(func(t *testing.T, body string) {
		_, _ = parseCommand([]byte(body))
	})
}
