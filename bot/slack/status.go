package slack

// Status says whether Slack can reach infrabot through this adapter now,
// and in a few words why: in Socket Mode, whether the connection is up
// ("connected", "connecting", "connection failed, retrying", "refused:
// check slack.app_token"); in HTTP mode, whether its endpoints are
// served ("serving /slack/ on the public server"). Before it serves, and
// after Close, it is not ok.
func (a *Adapter) Status() (ok bool, state string) { return a.status.Get() }

func (a *Adapter) setStatus(ok bool, state string) { a.status.Set(ok, state) }
