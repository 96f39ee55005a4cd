package slack

import (
	"strings"
	"testing"

	"github.com/infrabot/infrabot/actions"
)

// TestFallbackEscapesWhatTheBlocksEscape: the top-level text (what Slack
// shows in notifications) holds people's words, lock reasons and output
// as the blocks do, escaped, so <!channel> typed into a lock reason pings
// no one; the people the message calls on are still mentioned.
func TestFallbackEscapesWhatTheBlocksEscape(t *testing.T) {
	t.Parallel()
	r := render(actions.Message{
		Title:    "status <!here>",
		Summary:  "understood: `lock staging \"<!channel> <@U0BOSS> db & cache\"` — staging is locked by bob",
		Fields:   []actions.Field{{Label: "locked <by>", Value: `bob ("<!here>")`}},
		Lines:    []string{"  staging      2/2 servers · locked by bob: <!subteam^S0OPS>"},
		Links:    []actions.Link{{Label: "log <!here>", URL: "https://logs.example.org/build?id=1&attempt=2"}},
		Footer:   "asked by <@U0BOSS>",
		Mentions: []actions.Mention{{Person: "bob", ID: "U02BOB"}, {Person: "mallory", ID: "<!channel>"}},
	})
	for _, raw := range []string{"<!here>", "<!channel>", "<@U0BOSS>", "<!subteam", "<by>", " & ", "id=1&attempt"} {
		if strings.Contains(r.Fallback, raw) {
			t.Errorf("the fallback text carries %q raw:\n%s", raw, r.Fallback)
		}
	}
	for _, want := range []string{
		"<@U02BOB> mallory understood: `lock staging \"&lt;!channel&gt; &lt;@U0BOSS&gt; db &amp; cache\"`",
		"== status &lt;!here&gt; ==",
		"locked &lt;by&gt;: bob (\"&lt;!here&gt;\")",
		"locked by bob: &lt;!subteam^S0OPS&gt;",
		"log &lt;!here&gt;: https://logs.example.org/build?id=1&amp;attempt=2",
		"asked by &lt;@U0BOSS&gt;",
	} {
		if !strings.Contains(r.Fallback, want) {
			t.Errorf("the fallback text lacks %q:\n%s", want, r.Fallback)
		}
	}
}
