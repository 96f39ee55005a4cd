package discord

// Status says whether Discord can reach infrabot through this adapter
// now, and in a few words why: in gateway mode, whether the gateway
// session is up ("connected", "connecting", "disconnected,
// reconnecting"); in interactions mode, whether the endpoint is served.
// Before it serves, and after Close, it is not ok.
func (a *Adapter) Status() (ok bool, state string) { return a.status.Get() }

func (a *Adapter) setStatus(ok bool, state string) { a.status.Set(ok, state) }
