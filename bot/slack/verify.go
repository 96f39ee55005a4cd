package slack

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/infrabot/infrabot/bot"
)

// signatureWindow is how far a request's timestamp may be from now:
// Slack's own advice.
const signatureWindow = 5 * time.Minute

// replayMemory is how long a delivery's keys are remembered: a request is
// accepted while its timestamp is within signatureWindow of now, and a
// timestamp may lie up to that far ahead, so after 2×signatureWindow no
// replay of it can pass the signature check.
const replayMemory = 2 * signatureWindow

var (
	errNoSignature  = errors.New("missing X-Slack-Signature or X-Slack-Request-Timestamp")
	errBadSignature = errors.New("signature does not match")
	errStale        = errors.New("timestamp outside the 5-minute window (replay, or clock skew)")
)

// verifier checks Slack's v0 request signatures: HMAC-SHA256 with the
// signing secret over "v0:" + timestamp + ":" + body.
type verifier struct {
	secret []byte
	now    func() time.Time
}

// verify checks that header signs body within the window and returns the
// signature's bytes: the request's identity however its hex is spelt.
func (v *verifier) verify(h http.Header, body []byte) ([]byte, error) {
	sig, ts := h.Get("X-Slack-Signature"), h.Get("X-Slack-Request-Timestamp")
	if sig == "" || ts == "" {
		return nil, errNoSignature
	}
	hexSig, ok := strings.CutPrefix(sig, "v0=")
	if !ok || len(hexSig) != 2*sha256.Size {
		return nil, errBadSignature
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return nil, errBadSignature
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return nil, errBadSignature
	}
	if d := v.now().Sub(time.Unix(secs, 0)); d > signatureWindow || d < -signatureWindow {
		return nil, errStale
	}
	if !hmac.Equal(got, sign(v.secret, ts, body)) {
		return nil, errBadSignature
	}
	return got, nil
}

// sign returns the v0 HMAC of body at timestamp ts under secret.
func sign(secret []byte, ts string, body []byte) []byte {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("v0:"))
	mac.Write([]byte(ts))
	mac.Write([]byte(":"))
	mac.Write(body)
	return mac.Sum(nil)
}

// ReplayStore remembers the deliveries infrabot accepted, so that a
// replayed or retried one never runs twice, across restarts too (see
// bot.Rememberer; the storage package implements it).
type ReplayStore = bot.Rememberer

// firstDelivery reports whether a delivery with keys (empty ones ignored)
// is new, remembering it; durable waits until that memory is on disk
// (bot.Guard). A store that fails refuses the delivery: better Slack
// retries than a command runs twice.
func (a *Adapter) firstDelivery(ctx context.Context, keys []string) (first bool, durable func() error, err error) {
	now := a.opts.Now()
	return a.guard.Claim(context.WithoutCancel(ctx), keys, now, now.Add(replayMemory))
}

// forgetDelivery drops keys, for a delivery refused before it was queued.
func (a *Adapter) forgetDelivery(ctx context.Context, keys []string) {
	if err := a.guard.Forget(context.WithoutCancel(ctx), keys); err != nil {
		a.log.Warn("forgetting a refused delivery failed; Slack's retry of it will be taken for a replay", "err", err)
	}
}
