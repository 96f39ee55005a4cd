package discord

// status is what the adapter last knew of its link with Discord.
type status struct {
	ok    bool
	state string
}

// Status says whether Discord can reach infrabot through this adapter
// now, and in a few words why: in gateway mode, whether the gateway
// session is up ("connected", "connecting", "disconnected,
// reconnecting"); in interactions mode, whether the endpoint is served.
// Before it serves, and after Close, it is not ok.
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
