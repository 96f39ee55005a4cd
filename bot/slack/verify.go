package slack

import (
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

// signatureWindow is how far a request's timestamp may be from now: Slack's
// own advice, and how long a signed request must be remembered to refuse
// its replay.
const signatureWindow = 5 * time.Minute

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

// verify returns nil when header signs body within the window.
func (v *verifier) verify(h http.Header, body []byte) error {
	sig, ts := h.Get("X-Slack-Signature"), h.Get("X-Slack-Request-Timestamp")
	if sig == "" || ts == "" {
		return errNoSignature
	}
	hexSig, ok := strings.CutPrefix(sig, "v0=")
	if !ok || len(hexSig) != 2*sha256.Size {
		return errBadSignature
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return errBadSignature
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errBadSignature
	}
	if d := v.now().Sub(time.Unix(secs, 0)); d > signatureWindow || d < -signatureWindow {
		return errStale
	}
	if !hmac.Equal(got, sign(v.secret, ts, body)) {
		return errBadSignature
	}
	return nil
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

// seen remembers keys of requests already acted on (event ids, trigger
// ids, signatures) for the signature window, so that Slack's retries and
// a replayed request never run a command twice. Entries older than the
// window are dropped: a request that old fails the signature check anyway.
type seen struct {
	mu   sync.Mutex
	now  func() time.Time
	keys map[string]time.Time
	// sweepAt is when expired keys are next dropped.
	sweepAt time.Time
}

func newSeen(now func() time.Time) *seen {
	return &seen{now: now, keys: map[string]time.Time{}}
}

// first records keys and reports whether none of them was seen before.
// Empty keys are ignored. When it returns false nothing is recorded.
func (s *seen) first(keys ...string) bool {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.After(s.sweepAt) {
		for k, at := range s.keys {
			if now.Sub(at) > 2*signatureWindow {
				delete(s.keys, k)
			}
		}
		s.sweepAt = now.Add(signatureWindow / 5)
	}
	for _, k := range keys {
		if _, dup := s.keys[k]; k != "" && dup {
			return false
		}
	}
	for _, k := range keys {
		if k != "" {
			s.keys[k] = now
		}
	}
	return true
}

// forget removes keys, for a request that was refused before it was
// queued (so that Slack's retry of it is not mistaken for a duplicate).
func (s *seen) forget(keys ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		delete(s.keys, k)
	}
}
