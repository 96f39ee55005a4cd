package slack

import "sync/atomic"

// status is what the adapter last knew of its link with Slack.
type status struct {
	ok    bool
	state string
}

// Status says whether Slack can reach infrabot through this adapter now,
// and in a few words why: in Socket Mode, whether the connection is up
// ("connected", "connecting", "connection failed, retrying", "refused:
// check slack.app_token"); in HTTP mode, whether its endpoints are
// served ("serving /slack/ on the public server"). Before it serves, and
// after Close, it is not ok.
func (a *Adapter) Status() (ok bool, state string) {
	s := a.status.Load()
	if s == nil {
		return false, "not started"
	}
	return s.ok, s.state
}

func (a *Adapter) setStatus(ok bool, state string) {
	a.status.Store(&status{ok: ok, state: state})
}

// statusHolder keeps the adapter's status; its zero value is "not
// started".
type statusHolder = atomic.Pointer[status]
