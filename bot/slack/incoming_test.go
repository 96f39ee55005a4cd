package slack

import (
	"testing"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
)

// TestIncomingTextIsDecodedOnce: Slack sends &, < and > that people type
// as &amp;, &lt; and &gt;, in slash commands, mentions and direct
// messages alike; infrabot reads the text they typed, decoded once (and
// only those three), after taking the leading mention of the bot off.
func TestIncomingTextIsDecodedOnce(t *testing.T) {
	t.Parallel()
	const sent, typed = "lock staging db &amp; cache &lt;!here&gt; &amp;lt;b&amp;gt; &quot;x&quot; &#62;", `lock staging db & cache <!here> &lt;b&gt; &quot;x&quot; &#62;`
	command, err := commandRequest(slack.SlashCommand{UserID: "U02BOB", ChannelID: "C0INFRA", Text: " " + sent})
	if err != nil {
		t.Fatal(err)
	}
	mention := eventRequest("Ev1", slackevents.EventsAPIEvent{InnerEvent: slackevents.EventsAPIInnerEvent{Data: &slackevents.AppMentionEvent{
		User: "U02BOB", Channel: "C0INFRA", Text: "<@U0INFRABOT> " + sent}}})
	literal := eventRequest("Ev2", slackevents.EventsAPIEvent{InnerEvent: slackevents.EventsAPIInnerEvent{Data: &slackevents.AppMentionEvent{
		User: "U02BOB", Channel: "C0INFRA", Text: "<@U0INFRABOT> &lt;@U0INFRABOT&gt; " + sent}}})
	dm := eventRequest("Ev3", slackevents.EventsAPIEvent{InnerEvent: slackevents.EventsAPIInnerEvent{Data: &slackevents.MessageEvent{
		User: "U02BOB", Channel: "D02BOB", ChannelType: "im", Text: sent}}})
	for name, tc := range map[string]struct {
		r    request
		want string
	}{
		"slash command":  {command, typed},
		"mention":        {mention, typed},
		"typed mention":  {literal, "<@U0INFRABOT> " + typed},
		"direct message": {dm, typed},
	} {
		if tc.r.line == nil || tc.r.line.Text != tc.want {
			t.Errorf("%s: read %+v, want the text %q", name, tc.r.line, tc.want)
		}
	}
}
