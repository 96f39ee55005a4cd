package slack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions/actionstest"
	"github.com/infrabot/infrabot/bot/bottest"
	islack "github.com/infrabot/infrabot/bot/slack"
	"github.com/infrabot/infrabot/bot/slack/slacktest"
)

type overloaded struct {
	adapter *islack.Adapter
	slack   *slacktest.App
	fake    *slacktest.Server
	router  *bottest.GateRouter
	log     *actionstest.Buffer
	client  *http.Client
}

func newOverloaded(t *testing.T, opts islack.Options) *overloaded {
	t.Helper()
	o := &overloaded{fake: slacktest.NewServer(t, botToken), router: bottest.NewGateRouter(), log: &actionstest.Buffer{}}
	opts.BotToken, opts.SigningSecret, opts.APIURL = botToken, secret, o.fake.APIURL()
	opts.Router = o.router
	opts.Logger = slog.New(slog.NewTextHandler(o.log, nil))
	a, err := islack.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	o.adapter = a
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	// Slack gives an app 3 seconds to answer; so does this client.
	o.client = &http.Client{Timeout: 3 * time.Second}
	o.slack = &slacktest.App{URL: srv.URL, Secret: secret, Client: o.client, Workspace: o.fake}
	return o
}

// answer is what Slack got back for one slash command.
type answer struct {
	text string
	busy bool
}

// command sends a slash command and reads the answer, failing on anything
// Slack would show as a failure (no answer within 3 s, or not 200).
func (o *overloaded) command(t *testing.T, r *slacktest.Request) answer {
	t.Helper()
	resp := o.slack.Send(t, r)
	if resp.Status != http.StatusOK {
		t.Fatalf("answered %d %s, want 200", resp.Status, resp.Body)
	}
	if resp.Body == "" {
		return answer{}
	}
	var body struct {
		ResponseType string `json:"response_type"`
		Text         string `json:"text"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
		t.Fatalf("answer %q is not Slack's JSON: %v", resp.Body, err)
	}
	if body.ResponseType != "ephemeral" || !strings.Contains(body.Text, "busy") || !strings.Contains(body.Text, "try again") {
		t.Fatalf("answer %+v, want an ephemeral busy, try again", body)
	}
	return answer{text: body.Text, busy: true}
}

func TestOverloadAnswersBusyAndRunsEveryAcceptedCommandOnce(t *testing.T) {
	t.Parallel()
	o := newOverloaded(t, islack.Options{Workers: 2, Queue: 8, PerPerson: 8, BusyLogInterval: time.Hour})
	const sent = 40
	reqs := make([]*slacktest.Request, sent)
	answers := make([]answer, sent)
	var wg sync.WaitGroup
	for i := range reqs {
		reqs[i] = o.slack.CommandRequest(fmt.Sprintf("U%02d", i%5), infra, fmt.Sprintf("status %d", i))
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i] = o.command(t, reqs[i])
		}()
	}
	wg.Wait()
	var busy []int
	accepted := map[string]bool{}
	for i, a := range answers {
		if a.busy {
			busy = append(busy, i)
			if !strings.Contains(a.text, fmt.Sprintf("`status %d`", i)) {
				t.Errorf("busy answer %q does not name the command that did not run", a.text)
			}
			continue
		}
		accepted[fmt.Sprintf("status %d", i)] = true
	}
	// Eight waiting and up to two running: the rest were told to retry.
	if len(accepted) < 8 || len(accepted) > 10 || len(busy) != sent-len(accepted) {
		t.Fatalf("%d accepted and %d busy, want 8 to 10 accepted and the rest busy", len(accepted), len(busy))
	}

	o.router.Open()
	if err := o.adapter.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Retrying a refused command, as the person was told to, runs it.
	retried := fmt.Sprintf("status %d", busy[0])
	if a := o.command(t, reqs[busy[0]]); a.busy {
		t.Fatalf("the retry once idle was refused: %s", a.text)
	}
	accepted[retried] = true
	if err := o.adapter.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, text := range o.router.Ran() {
		counts[text]++
	}
	for text := range accepted {
		if counts[text] != 1 {
			t.Errorf("accepted %q ran %d times, want once", text, counts[text])
		}
	}
	for text, n := range counts {
		if !accepted[text] {
			t.Errorf("%q was answered busy and ran %d times", text, n)
		}
	}

	// One line for all the refusals, with their count, not one each.
	lines := regexp.MustCompile(`(?m)^.*busy: requests from Slack were refused.*$`).FindAllString(o.log.String(), -1)
	if len(lines) != 1 {
		t.Fatalf("%d refusal lines, want 1:\n%s", len(lines), o.log.String())
	}
	if want := "refused=" + strconv.Itoa(len(busy)) + " "; !strings.Contains(lines[0], want) || !strings.Contains(lines[0], "people=5") {
		t.Errorf("refusal line %q, want %s and people=5", lines[0], want)
	}
}

func TestNoisyPersonCannotStarveOthers(t *testing.T) {
	t.Parallel()
	o := newOverloaded(t, islack.Options{Workers: 1, Queue: 64, PerPerson: 8, BusyLogInterval: 200 * time.Millisecond})
	noisyBusy := 0
	for i := range 30 {
		if o.command(t, o.slack.CommandRequest("U09SCRIPT", infra, fmt.Sprintf("status script-%d", i))).busy {
			noisyBusy++
		}
	}
	if noisyBusy == 0 {
		t.Fatal("30 commands from one person at once were all accepted; their share should be bounded")
	}
	// The script has used up its own share, not everyone's.
	for _, who := range []string{alice, carol} {
		if a := o.command(t, o.slack.CommandRequest(who, infra, "status "+who)); a.busy {
			t.Fatalf("%s was refused while only the script was noisy: %s", who, a.text)
		}
	}
	o.router.Open()
	if err := o.adapter.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	ran := o.router.Ran()
	// Round-robin: the script's running command, at most one more of its
	// own, then alice's and carol's, ahead of its backlog.
	for _, who := range []string{alice, carol} {
		i := slices.Index(ran, "status "+who)
		if i < 0 || i > 3 {
			t.Errorf("%s's command ran at position %d of %v; want among the first 4", who, i, ran)
		}
	}
	// Without Close, the refusals are logged when their interval ends:
	// a line per interval with the count, the script named.
	refusedLine := regexp.MustCompile(`busy: requests from Slack were refused.* refused=(\d+) .*most=U09SCRIPT:`)
	deadline := time.Now().Add(5 * time.Second)
	for {
		lines := refusedLine.FindAllStringSubmatch(o.log.String(), -1)
		total := 0
		for _, l := range lines {
			n, _ := strconv.Atoi(l[1])
			total += n
		}
		if total == noisyBusy && len(lines) < noisyBusy {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("refusal lines count %d of %d refusals in %d lines:\n%s", total, noisyBusy, len(lines), o.log.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}
