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
	"sync"
	"time"
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

// ReplayStore remembers the deliveries infrabot accepted (their event
// ids, trigger ids, envelope ids and decoded signatures) so that Slack's
// retries and a replayed request never run a command twice, across
// restarts too. The store package implements it on the bbolt file.
type ReplayStore interface {
	// FirstSeen reports whether none of keys was seen before (and is
	// still remembered at now) and, when so, remembers them all until
	// until, atomically. When it reports false it records nothing.
	FirstSeen(ctx context.Context, keys []string, now, until time.Time) (bool, error)
	// Forget drops keys: the request was refused before it was queued,
	// and Slack's retry of it must not be taken for a replay.
	Forget(ctx context.Context, keys []string) error
}

// memoryReplays is a ReplayStore that lasts as long as the process: the
// default when no store is given (tests, a quick try-out).
type memoryReplays struct {
	mu   sync.Mutex
	keys map[string]time.Time // key → remembered until
	// sweepAt is when expired keys are next dropped.
	sweepAt time.Time
}

func newMemoryReplays() *memoryReplays { return &memoryReplays{keys: map[string]time.Time{}} }

func (s *memoryReplays) FirstSeen(ctx context.Context, keys []string, now, until time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.After(s.sweepAt) {
		for k, u := range s.keys {
			if !now.Before(u) {
				delete(s.keys, k)
			}
		}
		s.sweepAt = now.Add(signatureWindow / 5)
	}
	for _, k := range keys {
		if u, dup := s.keys[k]; dup && now.Before(u) {
			return false, nil
		}
	}
	for _, k := range keys {
		s.keys[k] = until
	}
	return true, nil
}

func (s *memoryReplays) Forget(ctx context.Context, keys []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		delete(s.keys, k)
	}
	return nil
}

// firstDelivery reports whether a delivery with keys (empty ones ignored)
// is new, remembering it. A store that fails refuses the delivery: better
// Slack retries than a command runs twice.
func (a *Adapter) firstDelivery(ctx context.Context, keys []string) (bool, error) {
	var ks []string
	for _, k := range keys {
		if k != "" {
			ks = append(ks, k)
		}
	}
	now := a.opts.Now()
	return a.replays.FirstSeen(context.WithoutCancel(ctx), ks, now, now.Add(replayMemory))
}

// forgetDelivery drops keys, for a delivery refused before it was queued.
func (a *Adapter) forgetDelivery(ctx context.Context, keys []string) {
	if err := a.replays.Forget(context.WithoutCancel(ctx), keys); err != nil {
		a.log.Warn("forgetting a refused delivery failed; Slack's retry of it will be taken for a replay", "err", err)
	}
}
