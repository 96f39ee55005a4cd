package slack

import (
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/bot"
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

// inlineLate is how long after a request arrived its acknowledgement may
// still carry the reply: past it, Slack may have given up on the request
// (it allows 3 seconds from when it sent it), so the reply is posted
// instead.
const inlineLate = 2500 * time.Millisecond

// answer is a slash command's reply, encoded for its acknowledgement's
// body, and what is needed to post it instead.
type answer struct {
	body  []byte
	in    bot.Incoming
	reply actions.Reply
}

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

func newInline() *inline {
	return &inline{reply: make(chan *answer, 1)}
}

// offer hands a (nil: there is nothing to answer with) to the handler and
// reports whether the handler takes it; false means it has answered
// already, without it, and the worker posts a.
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

// inlineAnswer is in's reply as a slash command's answer (ephemeral when
// private), or nil when an acknowledgement's body cannot carry it.
func inlineAnswer(in bot.Incoming, reply actions.Reply, private bool) *answer {
	r := render(reply.Message)
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
	return &answer{body: body, in: in, reply: reply}
}

// acknowledge answers a slash command's request, which arrived at
// arrived, with its reply a (nil: empty). A reply it cannot deliver so —
// too late for Slack to take it (offered as the handler's wait ran out,
// or held up after the offer), or the answer could not be sent — is
// posted instead.
func (a *Adapter) acknowledge(w http.ResponseWriter, arrived time.Time, ans *answer) {
	if ans != nil && time.Since(arrived) > inlineLate {
		a.deliver(ans.in, ans.reply)
		ans = nil
	}
	if ans == nil {
		w.WriteHeader(http.StatusOK)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	// A length, so that the flush below sends the whole answer in one
	// write instead of switching to chunked encoding.
	w.Header().Set("Content-Length", strconv.Itoa(len(ans.body)))
	if _, err := w.Write(ans.body); err != nil {
		a.deliver(ans.in, ans.reply)
		return
	}
	if err := http.NewResponseController(w).Flush(); err != nil {
		a.deliver(ans.in, ans.reply) // Slack shows an answer cut short as nothing
		return
	}
	a.out.Answered()
}

// commandResponse is the body of a slash command's answer.
type commandResponse struct {
	ResponseType string       `json:"response_type"`
	Text         string       `json:"text"`
	Blocks       slack.Blocks `json:"blocks"`
}
