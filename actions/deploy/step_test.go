package deploy_test

import (
	"context"
	"strings"
	"testing"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/deploy"
	"github.com/infrabot/infrabot/actions/ssh"
	"github.com/infrabot/infrabot/actions/ssh/sshtest"
)

// A secret printed on a line longer than the executor's MaxLine (a JSON
// blob, a minified config) is hidden wherever the line is cut: cut first
// and redacted after, each piece would hold half of it and neither half
// would look like the secret.
func TestASecretOnALongLineIsRedactedWhereverTheLineIsCut(t *testing.T) {
	t.Parallel()
	const secret = "hunter2-deploy-secret-token"
	key := sshtest.NewKey(t)
	srv := sshtest.NewServer(t, key)
	r, err := ssh.New(ssh.Config{
		User: "test", PrivateKey: key.PEM, MaxLine: 100,
		KnownHosts: []string{sshtest.WriteKnownHosts(t, srv.HostKey().KnownHostsLine(srv.Addr))},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	// One line per padding from 70 to 330 bytes: the cuts fall at every
	// place inside the secret, on the first cut of a line and on later
	// ones.
	lines := `pad=70; while [ $pad -le 330 ]; do printf "%${pad}s" x; echo "` + secret + `"; pad=$((pad+1)); done`
	for _, tc := range []struct{ name, cmd string }{
		{"stdout", lines},
		{"stderr", "{ " + lines + "; } >&2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := deploy.RunStep(context.Background(), r, []deploy.Host{{Name: "web-1", Addr: srv.Addr}}, tc.cmd,
				deploy.StepOptions{Redact: actions.NewRedactor(secret), Head: 5000})
			if res[0].Err != nil {
				t.Fatal(res[0].Err)
			}
			got := res[0].Output.Lines()
			// The pieces of one stream come in order: joined, they show a
			// secret cut in two (never printed here).
			if strings.Contains(strings.Join(got, ""), secret) {
				t.Errorf("the secret reached the transcript in pieces left unredacted")
			}
			if n := strings.Count(strings.Join(got, ""), actions.Redacted); n != 261 {
				t.Errorf("%d secrets redacted, want 261", n)
			}
		})
	}
}
