package slack

import (
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/slack-go/slack"
)

// Answering a slash command in its acknowledgement.
//
// Slack lets an app answer a slash command in the body of the 200 that
// acknowledges it, within 3 seconds, and shows that answer as the
// command's reply: in the channel (response_type in_channel) or to the
// person alone (ephemeral). That is one request instead of two (the
// acknowledgement, then chat.postMessage); it spends none of
// chat.postMessage's rate limit, about one message a second per channel;
// and it works in channels the bot has not joined. So the handler of
// /slack/commands waits, up to Options.InlineWait, for the command to run
// and answers with its reply. A command that takes longer is acknowledged
// empty at that deadline and its reply goes the usual way, when it comes.
// So does a reply the body cannot carry: one whose preformatted lines
// overflow into a thread, which needs the posted message's ts.

// defaultInlineWait leaves a second of Slack's 3 for the network.
const defaultInlineWait = 2 * time.Second

// answer is the body of a slash command's acknowledgement: its reply.
type answer struct{ body []byte }

// inline is where a worker hands a slash command's reply to the handler
// waiting to acknowledge it. Exactly one of them decides what becomes of
// the reply: the worker, by offering it before the handler gave up, or
// the handler, by giving up first, after which the worker sends the reply
// itself.
type inline struct {
	mu     sync.Mutex
	closed bool
	reply  chan *answer // buffered: offer never waits
}

func newInline() *inline { return &inline{reply: make(chan *answer, 1)} }

// offer hands a (nil: there is nothing to answer with) to the handler and
// reports whether the handler takes it; false means it has answered
// already, without it.
func (s *inline) offer(a *answer) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.closed = true
	s.reply <- a
	return true
}

// wait returns the reply offered within d or before done, or nil when
// there was none: then none will be taken any more.
func (s *inline) wait(d time.Duration, done <-chan struct{}) *answer {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case a := <-s.reply:
		return a
	case <-t.C:
	case <-done:
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed { // offered between the deadline and the lock
		return <-s.reply
	}
	s.closed = true
	return nil
}

// inlineAnswer is r as a slash command's answer (ephemeral when private),
// or nil when an acknowledgement's body cannot carry it.
func inlineAnswer(r rendered, private bool) *answer {
	if len(r.Overflow) > 0 {
		return nil
	}
	kind := slack.ResponseTypeInChannel
	if private {
		kind = slack.ResponseTypeEphemeral
	}
	body, err := json.Marshal(commandResponse{ResponseType: kind, Text: r.Fallback, Blocks: slack.Blocks{BlockSet: r.Blocks}})
	if err != nil {
		return nil
	}
	return &answer{body: body}
}

// acknowledge answers a slash command's request with a, or empty when a
// is nil.
func acknowledge(w http.ResponseWriter, a *answer) {
	if a == nil {
		w.WriteHeader(http.StatusOK)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(a.body)
}

// commandResponse is the body of a slash command's answer.
type commandResponse struct {
	ResponseType string       `json:"response_type"`
	Text         string       `json:"text"`
	Blocks       slack.Blocks `json:"blocks"`
}
