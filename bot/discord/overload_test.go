package discord_test

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
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
	"github.com/infrabot/infrabot/bot/discord"
	"github.com/infrabot/infrabot/bot/discord/discordtest"
)

type overloaded struct {
	adapter *discord.Adapter
	app     *discordtest.App
	fake    *discordtest.Server
	router  *bottest.GateRouter
	log     *actionstest.Buffer
}

func newOverloaded(t *testing.T, opts discord.Options) *overloaded {
	t.Helper()
	o := &overloaded{fake: discordtest.NewServer(t, botToken, appID, time.Now), router: bottest.NewGateRouter(), log: &actionstest.Buffer{}}
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	opts.BotToken, opts.PublicKey, opts.ApplicationID, opts.APIURL = botToken, hex.EncodeToString(pub), appID, o.fake.URL()
	opts.Router = o.router
	opts.Logger = slog.New(slog.NewTextHandler(o.log, nil))
	a, err := discord.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	o.adapter = a
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	// Discord gives an app 3 seconds to answer; so does this client.
	o.app = &discordtest.App{URL: srv.URL, Key: priv, Server: o.fake, Client: &http.Client{Timeout: 3 * time.Second}}
	return o
}

// answer is what Discord got back for one interaction.
type answer struct {
	text string
	busy bool
}

// command sends /infra status N as who and reads the answer, failing on
// anything Discord would show as "interaction failed": no answer within
// 3 s, not 200, or neither a deferred response nor an ephemeral busy.
func (o *overloaded) command(t *testing.T, who discordtest.User, n string) answer {
	t.Helper()
	resp := o.app.Send(t, o.app.Sign(o.fake.Command(who, guild, infra, "status", map[string]any{"n": n})))
	if resp.Status != http.StatusOK {
		t.Fatalf("answered %d %s, want 200", resp.Status, resp.Body)
	}
	var body struct {
		Type int `json:"type"`
		Data *struct {
			Content string `json:"content"`
			Flags   int    `json:"flags"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
		t.Fatalf("answer %q is not Discord's JSON: %v", resp.Body, err)
	}
	switch {
	case body.Type == 5:
		return answer{}
	case body.Type == 4 && body.Data != nil && body.Data.Flags&64 != 0 &&
		strings.Contains(body.Data.Content, "infrabot is busy") && strings.Contains(body.Data.Content, "try again"):
		return answer{text: body.Data.Content, busy: true}
	}
	t.Fatalf("answer %s, want a deferred response or an ephemeral busy, try again", resp.Body)
	return answer{}
}

func person(i int) discordtest.User {
	return discordtest.User{ID: fmt.Sprintf("4100000000000000%02d", i), Name: fmt.Sprintf("p%d", i)}
}

func TestOverloadAnswersBusyAndRunsEveryAcceptedInteractionOnce(t *testing.T) {
	t.Parallel()
	o := newOverloaded(t, discord.Options{Workers: 2, Queue: 8, PerPerson: 8, BusyLogInterval: time.Hour})
	const sent = 40
	answers := make([]answer, sent)
	var wg sync.WaitGroup
	for i := range sent {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i] = o.command(t, person(i%5), strconv.Itoa(i))
		}()
	}
	wg.Wait()
	var busy []int
	accepted := map[string]bool{}
	for i, a := range answers {
		if a.busy {
			busy = append(busy, i)
			if !strings.Contains(a.text, fmt.Sprintf("`status \"%d\"`", i)) {
				t.Errorf("busy answer %q does not name the command that did not run", a.text)
			}
			continue
		}
		accepted[fmt.Sprintf("status %q", strconv.Itoa(i))] = true
	}
	// Eight waiting and up to two running: the rest were told to retry.
	if len(accepted) < 8 || len(accepted) > 10 || len(busy) != sent-len(accepted) {
		t.Fatalf("%d accepted and %d busy, want 8 to 10 accepted and the rest busy", len(accepted), len(busy))
	}

	o.router.Open()
	if err := o.adapter.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Retrying a refused command (a new interaction, as Discord makes
	// one per use), as the person was told to, runs it.
	if a := o.command(t, person(busy[0]%5), strconv.Itoa(busy[0])); a.busy {
		t.Fatalf("the retry once idle was refused: %s", a.text)
	}
	accepted[fmt.Sprintf("status %q", strconv.Itoa(busy[0]))] = true
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
	lines := regexp.MustCompile(`(?m)^.*busy: requests from Discord were refused.*$`).FindAllString(o.log.String(), -1)
	if len(lines) != 1 {
		t.Fatalf("%d refusal lines, want 1:\n%s", len(lines), o.log.String())
	}
	if want := "refused=" + strconv.Itoa(len(busy)) + " "; !strings.Contains(lines[0], want) || !strings.Contains(lines[0], "people=5") {
		t.Errorf("refusal line %q, want %s and people=5", lines[0], want)
	}
}

func TestNoisyDiscordUserCannotStarveOthers(t *testing.T) {
	t.Parallel()
	o := newOverloaded(t, discord.Options{Workers: 1, Queue: 64, PerPerson: 8, BusyLogInterval: time.Hour})
	script := person(99)
	noisyBusy := 0
	for i := range 30 {
		if o.command(t, script, fmt.Sprintf("script-%d", i)).busy {
			noisyBusy++
		}
	}
	if noisyBusy == 0 {
		t.Fatal("30 commands from one person at once were all accepted; their share should be bounded")
	}
	// The script has used up its own share, not everyone's.
	for _, who := range []discordtest.User{alice, carol} {
		if a := o.command(t, who, who.Name); a.busy {
			t.Fatalf("%s was refused while only the script was noisy: %s", who.Name, a.text)
		}
	}
	o.router.Open()
	if err := o.adapter.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	ran := o.router.Ran()
	// Round-robin: the script's running command, at most one more of its
	// own, then alice's and carol's, ahead of its backlog.
	for _, who := range []discordtest.User{alice, carol} {
		i := slices.Index(ran, fmt.Sprintf("status %q", who.Name))
		if i < 0 || i > 3 {
			t.Errorf("%s's command ran at position %d of %v; want among the first 4", who.Name, i, ran)
		}
	}
	if err := o.adapter.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`busy: requests from Discord were refused.* refused=` + strconv.Itoa(noisyBusy) + ` .*most=` + script.ID + `:`).MatchString(o.log.String()) {
		t.Errorf("no refusal line counting the script's %d refusals:\n%s", noisyBusy, o.log.String())
	}
}

// The busy answer names the command, cut short when it is long (a lock
// reason may have thousands of characters): Discord refuses an answer over
// its limits and shows "interaction failed". It pings no one.
func TestBusyAnswerToALongCommandFitsDiscord(t *testing.T) {
	t.Parallel()
	o := newOverloaded(t, discord.Options{Workers: 1, Queue: 1, PerPerson: 1, BusyLogInterval: time.Hour})
	for i := 0; !o.command(t, alice, strconv.Itoa(i)).busy; i++ {
		if i == 10 {
			t.Fatal("10 commands held by one worker were all accepted")
		}
	}
	long := strings.Repeat("x", 3000) + " @everyone"
	resp := o.app.Send(t, o.app.Sign(o.fake.Command(alice, guild, infra, "status", map[string]any{"n": long})))
	var body struct {
		Type int            `json:"type"`
		Data map[string]any `json:"data"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &body); err != nil || body.Type != 4 {
		t.Fatalf("answer %.300s, want a busy answer (type 4)", resp.Body)
	}
	if err := discordtest.CheckMessage(body.Data); err != nil {
		t.Errorf("Discord would refuse the busy answer: %v", err)
	}
	content, _ := body.Data["content"].(string)
	if !strings.HasPrefix(content, "⏳ infrabot is busy right now and did not run `status \"xxx") || !strings.Contains(content, "try again") {
		t.Errorf("busy answer %.300q… does not name the command and say to retry", content)
	}
	if am, ok := body.Data["allowed_mentions"].(map[string]any); !ok || am["parse"] == nil || len(am["parse"].([]any)) != 0 {
		t.Errorf("busy answer's allowed_mentions is %v, want parse []", body.Data["allowed_mentions"])
	}
	o.router.Open()
	if err := o.adapter.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}
