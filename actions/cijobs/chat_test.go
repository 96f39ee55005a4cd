package cijobs_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions/zuul/zuultest"
	"github.com/infrabot/infrabot/bot/discord"
	islack "github.com/infrabot/infrabot/bot/slack"
)

// `jobs` lists broken jobs first, so a list too long for one chat message
// still shows them there: the platforms keep a list's first lines, not
// its last as they do for a run's output.
func TestBrokenJobsStayInALongListInChat(t *testing.T) {
	t.Parallel()
	cw := newCIWorld(t, zuultest.Nested, ciSquad())
	for i := range 90 {
		cw.build(fmt.Sprintf("periodic-tripleo-ci-%03d-standalone", i), "SUCCESS", time.Hour)
	}
	cw.build(standalone, "SUCCESS", 3*time.Hour)
	cw.build(standalone, "RETRY_LIMIT", 2*time.Hour)
	cw.poll(5 * time.Minute)

	r := cw.As("alice", "jobs")
	cw.Expect(r, false, "91 jobs: 1 broken")
	broken := "✗ ci: " + standalone
	if !strings.HasPrefix(r.Lines[0], broken) {
		t.Fatalf("the broken job is not listed first: %q", r.Lines[0])
	}
	d, _ := json.Marshal(discord.Render(r.Message))
	if !strings.Contains(string(d), broken) || !strings.Contains(string(d), "more lines not shown") {
		t.Errorf("Discord shows the list's end, not the broken job at its start:\n%s", d)
	}
	s, _ := json.Marshal(islack.Render(r.Message))
	if !strings.Contains(string(s), broken) {
		t.Errorf("Slack's message lacks the broken job:\n%s", s)
	}
}
