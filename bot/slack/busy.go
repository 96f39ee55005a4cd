package slack

import (
	"fmt"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/bot"
)

// busyText is bot.BusyText in Slack's spelling.
func busyText(command string) string { return bot.BusyText(":hourglass:", command) }

// busyMessage is the separate message telling a person their click or
// message was not run.
func busyMessage(command string) actions.Message {
	return actions.Message{Summary: busyText(command), Tone: actions.ToneWarning}
}

// notRecordedMessage tells a person their command was not run because
// infrabot could not record it (its store failed), when there is no
// request left to answer (Socket Mode acknowledges first).
func notRecordedMessage(command string) actions.Message {
	return actions.Message{Summary: fmt.Sprintf("infrabot could not record `%s`, so it did not run it; please try again in a moment.", command), Tone: actions.ToneWarning}
}
