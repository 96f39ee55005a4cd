package deploy_test

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/deploy"
)

func TestResolveParams(t *testing.T) {
	t.Parallel()
	ref, err := deploy.CompilePattern(`[A-Za-z0-9._/-]{1,100}`)
	if err != nil {
		t.Fatal(err)
	}
	params := []deploy.Param{{Name: "ref", Pattern: ref, Default: "master", HasDefault: true}}
	tests := []struct {
		name  string
		given map[string]string
		want  string // the value of ref, or part of the error
		ok    bool
	}{
		{"default", nil, "master", true},
		{"given", map[string]string{"ref": "v1.2"}, "v1.2", true},
		{"shell metacharacters refused", map[string]string{"ref": "v1; rm -rf /"}, "does not match its pattern", false},
		{"pattern is anchored", map[string]string{"ref": "ok\n$(reboot)"}, "does not match", false},
		{"unknown parameter", map[string]string{"branch": "x"}, "unknown parameter --branch (this deploy takes --ref)", false},
		{"too long", map[string]string{"ref": strings.Repeat("a", 101)}, "does not match", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := deploy.Resolve(params, tc.given)
			if tc.ok {
				if err != nil || got["ref"] != tc.want {
					t.Errorf("got %q, %v", got, err)
				}
				return
			}
			if err == nil || !strings.Contains(actions.ErrorMessage(err), tc.want) || actions.ErrorKind(err) != actions.Invalid {
				t.Errorf("error = %v, want %q", err, tc.want)
			}
			if v := tc.given["ref"]; v != "" && strings.Contains(actions.ErrorMessage(err), v) {
				t.Errorf("the refused value is repeated in chat: %s", actions.ErrorMessage(err))
			}
		})
	}
	req := []deploy.Param{{Name: "ref", Pattern: ref}}
	if _, err := deploy.Resolve(req, nil); err == nil || !strings.Contains(err.Error(), "--ref is required") {
		t.Errorf("missing required: %v", err)
	}
}

func TestTranscriptKeepsHeadAndTail(t *testing.T) {
	t.Parallel()
	tr := &deploy.Transcript{Head: 3, Tail: 4}
	for i := 1; i <= 100; i++ {
		tr.Add(fmt.Sprint(i))
	}
	want := []string{"1", "2", "3", "… 93 lines cut (kept the first 3 and the last 4) …", "97", "98", "99", "100"}
	if got := tr.Lines(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("lines = %q", got)
	}
	if got := tr.Last(2); strings.Join(got, "|") != "99|100" {
		t.Errorf("last 2 = %q", got)
	}
	short := &deploy.Transcript{Head: 3, Tail: 4}
	for i := 1; i <= 5; i++ {
		short.Add(fmt.Sprint(i))
	}
	if got := short.Lines(); strings.Join(got, "|") != "1|2|3|4|5" || short.Cut() != 0 {
		t.Errorf("short = %q", got)
	}
	if got := short.Last(4); strings.Join(got, "|") != "2|3|4|5" {
		t.Errorf("short last 4 = %q", got)
	}
}

// localRemote runs commands with the local /bin/sh: a real Remote for
// testing how a step runs across hosts.
type localRemote struct {
	mu  sync.Mutex
	ran []string
}

func (l *localRemote) Run(ctx context.Context, host, cmd string, out func(string)) error {
	l.mu.Lock()
	l.ran = append(l.ran, host)
	l.mu.Unlock()
	c := exec.CommandContext(ctx, "/bin/sh", "-c", cmd)
	c.Env = append(c.Environ(), "HOST="+host)
	c.WaitDelay = time.Second
	b, err := c.CombinedOutput()
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if line != "" {
			out(line)
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		return actions.Errorf(actions.Unavailable, "%v", err)
	}
	return nil
}

func hosts(n int) []deploy.Host {
	var hs []deploy.Host
	for i := 1; i <= n; i++ {
		hs = append(hs, deploy.Host{Name: fmt.Sprintf("web-%d", i), Addr: fmt.Sprintf("web-%d", i)})
	}
	return hs
}

func TestRunStepFailsFast(t *testing.T) {
	t.Parallel()
	r := &localRemote{}
	// web-2 fails at once; the others would take long.
	res := deploy.RunStep(context.Background(), r, hosts(6), `if [ "$HOST" = web-2 ]; then echo broken; exit 2; fi; sleep 30`, deploy.StepOptions{Parallel: 2})
	if res[1].Err == nil || res[1].Output.Lines()[0] != "broken" {
		t.Errorf("web-2: %v %q", res[1].Err, res[1].Output.Lines())
	}
	if !errors.Is(res[0].Err, context.Canceled) {
		t.Errorf("web-1 was not stopped: %v", res[0].Err)
	}
	for _, h := range res[2:] {
		if h.Started || h.Err != deploy.ErrNotStarted {
			t.Errorf("%s started after web-2 failed: %v", h.Host.Name, h.Err)
		}
	}
}

// countingRemote records how many commands run at once.
type countingRemote struct {
	deploy.Remote
	mu            sync.Mutex
	running, most int
}

func (c *countingRemote) Run(ctx context.Context, host, cmd string, out func(string)) error {
	c.mu.Lock()
	c.running++
	c.most = max(c.most, c.running)
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.running--
		c.mu.Unlock()
	}()
	return c.Remote.Run(ctx, host, cmd, out)
}

func TestRunStepKeepGoingAndLimit(t *testing.T) {
	t.Parallel()
	r := &countingRemote{Remote: &localRemote{}}
	res := deploy.RunStep(context.Background(), r, hosts(5), `sleep 0.1; if [ "$HOST" = web-1 ]; then exit 1; fi; echo "done $HOST"`, deploy.StepOptions{
		Parallel: 2, KeepGoing: true,
	})
	for i, h := range res {
		if !h.Started || (i == 0) != (h.Err != nil) {
			t.Errorf("%s: started %v, err %v", h.Host.Name, h.Started, h.Err)
		}
		if i > 0 && strings.Join(h.Output.Lines(), "") != "done "+h.Host.Name {
			t.Errorf("%s output %q", h.Host.Name, h.Output.Lines())
		}
	}
	if r.most != 2 {
		t.Errorf("%d hosts ran at once, want the limit, 2", r.most)
	}
}

func TestRunStepTimeoutAndRedaction(t *testing.T) {
	t.Parallel()
	r := &localRemote{}
	// The timeout is far shorter than the command, yet long enough for
	// the shell to start and print under load; exec lets the timeout's
	// kill reach the sleep, so the output ends at once.
	res := deploy.RunStep(context.Background(), r, hosts(1), "echo password=hunter22; exec sleep 300", deploy.StepOptions{
		Timeout: 2 * time.Second, Redact: actions.NewRedactor("hunter22"),
	})
	if !errors.Is(res[0].Err, context.DeadlineExceeded) {
		t.Errorf("err = %v", res[0].Err)
	}
	if got := res[0].Output.Lines(); len(got) != 1 || got[0] != "password=[redacted]" {
		t.Errorf("output = %q", got)
	}
}
