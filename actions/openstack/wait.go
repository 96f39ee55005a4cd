package openstack

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"

	"github.com/infrabot/infrabot/actions"
)

// WaitActive polls the server until it is ACTIVE. It does not use
// gophercloud's servers.WaitForStatus, which keeps polling a server in
// ERROR until the deadline: a server in ERROR ends the wait at once, with
// Nova's fault message. When ctx ends first, the error says which state the
// server was still in and for how long.
func (c *Cloud) WaitActive(ctx context.Context, id string, seen func(actions.Server)) (actions.Server, error) {
	return c.poll(ctx, id, func(cur *actions.Server, last actions.Server) (bool, error) {
		if cur == nil {
			return true, actions.Errorf(actions.NotFound,
				"server %s disappeared while infrabot waited for it to become ACTIVE", nameOr(last, id))
		}
		if seen != nil && (last.ID == "" || cur.Status != last.Status) {
			seen(*cur)
		}
		switch cur.Status {
		case actions.StatusActive:
			return true, nil
		case actions.StatusError:
			return true, &actions.Error{Kind: actions.Unavailable,
				Message: fmt.Sprintf("server %s went to ERROR: %s", cur.Name, faultOrUnknown(cur.Fault))}
		}
		return false, nil
	}, func(last actions.Server) string { return "still " + stateOr(last, "in an unknown state") })
}

// WaitGone polls until the server no longer exists (Nova answers 404).
func (c *Cloud) WaitGone(ctx context.Context, id string) error {
	_, err := c.poll(ctx, id, func(cur *actions.Server, _ actions.Server) (bool, error) {
		return cur == nil, nil
	}, func(last actions.Server) string { return "still exists (" + stateOr(last, "unknown state") + ")" })
	return err
}

// poll reads the server with backoff until done says the wait is over or
// ctx ends. done gets the server as just read, or nil when Nova answers
// 404, and the server as read the time before (zero at first). poll
// returns the last server read and done's error. Read failures that may
// heal (5xx, network trouble that outlived the transport's retries, an
// answer that is not a server, such as a proxy's HTML page) are logged
// and polling goes on; others, such as bad credentials, end the wait. When ctx ends first, the error says what the server was still
// doing, in still's words.
func (c *Cloud) poll(ctx context.Context, id string, done func(cur *actions.Server, last actions.Server) (bool, error),
	still func(last actions.Server) string) (actions.Server, error) {
	start := time.Now()
	var last actions.Server
	var lastErr error
	for wait := c.backoff(); ; {
		s, err := servers.Get(ctx, c.compute, id).Extract()
		if err == nil && s.ID == "" {
			// a 2xx whose JSON holds no server: not Nova's answer
			err = &actions.Error{Kind: actions.Unavailable,
				Message: "OpenStack answered the request to read server " + nameOr(last, id) + " with JSON of an unexpected shape"}
		}
		switch {
		case err == nil || isNotFound(err):
			var cur *actions.Server
			if err == nil {
				v := c.server(ctx, s)
				cur = &v
			}
			stop, doneErr := done(cur, last)
			if cur != nil {
				last, lastErr = *cur, nil
			}
			if stop {
				return last, doneErr
			}
		case ctx.Err() != nil:
			// the request itself was cut short by ctx; reported below
		default:
			mapped := apiError("read server "+nameOr(last, id), err)
			if actions.ErrorKind(mapped) != actions.Unavailable {
				return last, mapped // bad credentials and the like will not heal by waiting
			}
			c.log.WarnContext(ctx, "openstack: polling server failed", "id", id, "err", err)
			lastErr = mapped
		}
		if err := wait.sleep(ctx); err != nil {
			return last, waitEnded(err, nameOr(last, id), still(last), start, lastErr)
		}
	}
}

// waitEnded explains why a wait stopped before the server got where it
// should: the deadline passed, or the wait was canceled.
func waitEnded(ctxErr error, name, state string, start time.Time, lastErr error) error {
	var msg string
	if errors.Is(ctxErr, context.DeadlineExceeded) {
		msg = fmt.Sprintf("server %s %s after %s", name, state, time.Since(start).Round(time.Second))
	} else {
		msg = fmt.Sprintf("stopped waiting for server %s (canceled; %s)", name, state)
	}
	if lastErr != nil {
		msg += "; last error: " + actions.ErrorMessage(lastErr)
	}
	return &actions.Error{Kind: actions.Unavailable, Message: msg, Err: ctxErr}
}

func faultOrUnknown(fault string) string {
	if fault == "" {
		return "Nova gave no reason"
	}
	return clip(fault)
}

func nameOr(s actions.Server, id string) string {
	if s.Name != "" {
		return s.Name
	}
	return id
}

func stateOr(s actions.Server, unknown string) string {
	if s.Status != "" {
		return s.Status
	}
	return unknown
}

// backoff is the wait between polls: pollInitial, then a quarter of the
// time waited so far, up to pollMax. Doubling would be simpler, but a
// server that is ready just after a poll is then seen up to twice as late
// as it was ready (a 2 s build seen at 3.5 s); a quarter keeps that to
// 25 %, and still asks a slow build only every pollMax.
type backoff struct {
	initial, max time.Duration
	start        time.Time
}

func (c *Cloud) backoff() *backoff {
	return &backoff{initial: c.pollInitial, max: c.pollMax, start: time.Now()}
}

// sleep waits for the next poll, or returns ctx's error when ctx ends first.
func (b *backoff) sleep(ctx context.Context) error {
	return actions.Sleep(ctx, b.next())
}

func (b *backoff) next() time.Duration {
	return min(max(b.initial, time.Since(b.start)/4), b.max)
}
