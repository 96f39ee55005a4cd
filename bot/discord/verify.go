package discord

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// signatureWindow is how far an interaction's timestamp may be from now.
// discordgo's VerifyInteraction checks only the signature: without this,
// a captured request could be replayed for ever.
const signatureWindow = 5 * time.Minute

var (
	errNoSignature  = errors.New("missing X-Signature-Ed25519 or X-Signature-Timestamp")
	errBadSignature = errors.New("signature does not match")
	errStale        = errors.New("timestamp outside the 5-minute window (replay, or clock skew)")
)

// verify returns nil when h carries a valid Ed25519 signature by key of
// timestamp + body, with a timestamp within the window of now.
func verify(key ed25519.PublicKey, now time.Time, h http.Header, body []byte) error {
	sig, ts := h.Get("X-Signature-Ed25519"), h.Get("X-Signature-Timestamp")
	if sig == "" || ts == "" {
		return errNoSignature
	}
	raw, err := hex.DecodeString(sig)
	if err != nil || len(raw) != ed25519.SignatureSize {
		return errBadSignature
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errBadSignature
	}
	msg := make([]byte, 0, len(ts)+len(body))
	msg = append(append(msg, ts...), body...)
	if !ed25519.Verify(key, msg, raw) {
		return errBadSignature
	}
	if d := now.Sub(time.Unix(secs, 0)); d > signatureWindow || d < -signatureWindow {
		return errStale
	}
	return nil
}

// seen remembers the interactions already acted on, for twice the
// signature window, so that an interaction delivered twice (a replayed
// request, a gateway event replayed on RESUME) runs once.
type seen struct {
	mu      sync.Mutex
	now     func() time.Time
	keys    map[string]time.Time
	sweepAt time.Time
}

func newSeen(now func() time.Time) *seen { return &seen{now: now, keys: map[string]time.Time{}} }

// first records key and reports whether it is new.
func (s *seen) first(key string) bool {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.After(s.sweepAt) {
		for k, at := range s.keys {
			if now.Sub(at) > TokenLife {
				delete(s.keys, k)
			}
		}
		s.sweepAt = now.Add(signatureWindow / 5)
	}
	if _, dup := s.keys[key]; dup {
		return false
	}
	s.keys[key] = now
	return true
}

func (s *seen) forget(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.keys, key)
}
