package discord

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/infrabot/infrabot/bot"
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

// replayMemory is how long an accepted interaction is remembered: as long
// as its token lives, which is longer than any signed delivery of it
// passes the 5-minute window on either side.
const replayMemory = TokenLife

// ReplayStore remembers the deliveries infrabot accepted, so that a
// replayed or retried one never runs twice, across restarts too (see
// bot.Rememberer; the storage package implements it).
type ReplayStore = bot.Rememberer

// deliveryKeys are the replay keys of interaction id, delivered with the
// signature sig (hex, as the header carries it; "" from the gateway). The
// signature is a key by its bytes, however its hex is spelt.
func deliveryKeys(id, sig string) []string {
	keys := []string{"discord:interaction:" + id}
	if raw, err := hex.DecodeString(sig); err == nil && len(raw) > 0 {
		keys = append(keys, "discord:sig:"+hex.EncodeToString(raw))
	}
	return keys
}

// firstDelivery reports whether an interaction with keys is new,
// remembering it (bot.Guard), once that is on disk. A store that fails
// refuses the interaction: better it is tried again than a command runs
// twice.
func (a *Adapter) firstDelivery(ctx context.Context, keys []string) (bool, error) {
	ctx = context.WithoutCancel(ctx)
	now := a.opts.Now()
	first, durable, err := a.guard.Claim(ctx, keys, now, now.Add(replayMemory))
	if err != nil || !first {
		return false, err
	}
	if err := durable(); err != nil {
		a.forgetDelivery(ctx, keys)
		return false, err
	}
	return true, nil
}

// forgetDelivery drops keys, for an interaction refused before it was
// queued.
func (a *Adapter) forgetDelivery(ctx context.Context, keys []string) {
	if err := a.guard.Forget(context.WithoutCancel(ctx), keys); err != nil {
		a.log.Warn("forgetting a refused interaction failed; a retry of it will be taken for a replay", "err", err)
	}
}
