package actions

import "context"

// Tone colours a message: adapters map it to their own styles.
type Tone string

// Tones.
const (
	ToneInfo    Tone = ""
	ToneSuccess Tone = "success"
	ToneWarning Tone = "warning"
	ToneDanger  Tone = "danger"
)

// Message is one chat message, independent of any platform. Adapters
// render it: Slack as blocks, Discord as an embed with components, the
// console as text.
type Message struct {
	// Summary is the message in one line: the notification text, and what
	// the console prints for an update.
	Summary string
	Title   string
	Text    string
	Fields  []Field
	// Lines are shown preformatted (a plan, a step list, a table). A
	// list puts what matters most first (broken jobs, failing checks):
	// where its lines do not all fit in one message, adapters show the
	// first ones and say how many more there are.
	Lines []string
	// Tail says Lines are output instead, whose last lines matter most (a
	// run's progress and log, the latest audit records): adapters short
	// of room show the last ones.
	Tail    bool
	Buttons []Button
	// Footer is small print under the message.
	Footer string
	Tone   Tone
	// Mentions are people the message calls on, by their config name,
	// shown before its text: a platform mention (<@U02BOB> in Slack) where
	// the person is mapped on that platform, their name in plain text
	// where not.
	Mentions []Mention
	// Links are shown after the text, each its label linking to its URL.
	Links []Link
}

// Mention names a person a message calls on. ID is the platform's id of
// the person, filled in by the kernel for the platform a copy goes to;
// modules set only Person.
type Mention struct {
	Person string
	ID     string
}

// MentionAll returns mentions of the named people, for Message.Mentions.
func MentionAll(people ...string) []Mention {
	out := make([]Mention, len(people))
	for i, p := range people {
		out[i] = Mention{Person: p}
	}
	return out
}

// Link is a labelled URL. Adapters show only http and https URLs as links.
type Link struct {
	Label string
	URL   string
}

// Field is a label and its value.
type Field struct {
	Label, Value string
}

// Button runs Command as the person who clicks it, with exactly the checks
// the typed command gets.
type Button struct {
	Label   string
	Command string
	Style   Tone // ToneSuccess for a primary button, ToneDanger for a dangerous one
}

// Origin is where a request came from, and where its messages go.
type Origin struct {
	Platform string // "console", "slack", "discord"
	Channel  string
	UserID   string // the platform's id of the person
	// Private is true when the request was typed where only its author
	// reads: a direct message, or the local console. Approval requests
	// typed there go to the approvals channel, where approvers are.
	Private bool `json:",omitempty"`
}

// MessageRef identifies a posted message so that it can be updated.
type MessageRef struct {
	Platform string
	Channel  string
	ID       string
}

// Chat is one chat platform as the kernel speaks to it. The engine calls
// it from many goroutines at once (every run reports on its own), so an
// implementation must be safe for concurrent use.
//
// The contract, for every method:
//   - ctx bounds only the call: when it ends the method returns promptly
//     with ctx's error. Messages already accepted are not withdrawn.
//   - An error means the platform does not have the message. The engine
//     logs it and carries on: a run never fails because chat did.
//   - Nothing is delivered twice: a method that returns an error has not
//     delivered, and one that succeeds has delivered (or queued, for
//     Update) exactly once.
//   - Message text is the engine's; adapters escape it for their platform
//     (mentions, markup) and never interpret it as commands.
type Chat interface {
	// Post sends m to channel (the platform's channel id) and returns its
	// reference once the platform has it. Messages posted to one channel
	// appear in the order Post was called. A rate limit makes Post wait,
	// not fail.
	Post(ctx context.Context, channel string, m Message) (MessageRef, error)
	// Direct sends m as a direct message to the platform user userID
	// (opening the conversation when needed) and returns its reference,
	// whose Channel is the direct conversation. It follows Post's rules.
	Direct(ctx context.Context, userID string, m Message) (MessageRef, error)
	// Update replaces what the message ref shows (a ref from Post or
	// Direct on this platform). It may return before the platform has
	// it, and may skip intermediate states when updates come faster than
	// the platform takes them; the latest state is always delivered last,
	// after any earlier update of the same message.
	Update(ctx context.Context, ref MessageRef, m Message) error
}

// OneScreen is implemented by a chat that shows every channel and direct
// message on one screen (the console): a copy of a message for the person
// who typed a command there would only repeat what they already see.
type OneScreen interface {
	OneScreen() bool
}

// Reply is the engine's answer to one command. A private reply is shown
// only to the person who typed the command where the platform can.
type Reply struct {
	Message
	Private bool
}
