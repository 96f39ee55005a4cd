package actions

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// AuditEntry is one record of the audit log. Each entry holds the hash of
// the one before it, so that editing, removing or reordering entries is
// detected by VerifyChain.
type AuditEntry struct {
	Seq    uint64    `json:"seq"`
	Time   time.Time `json:"time"`
	Person string    `json:"person"`
	Event  string    `json:"event"` // request, refused, approval-requested, approved, denied, started, outcome, …
	Action string    `json:"action,omitempty"`
	Env    string    `json:"env,omitempty"`
	Run    int64     `json:"run,omitempty"`
	Detail string    `json:"detail,omitempty"`
	Prev   string    `json:"prev"`
	Hash   string    `json:"hash"`
}

// ComputeHash returns the hash of the entry's content and Prev: every field
// but Hash.
func (e AuditEntry) ComputeHash() string {
	_, hash := e.unsealed()
	return hash
}

// unsealed returns the entry's JSON with an empty Hash, and the hash of
// that JSON.
func (e AuditEntry) unsealed() ([]byte, string) {
	e.Hash = ""
	e.Time = e.Time.UTC()
	b, err := json.Marshal(e)
	if err != nil {
		panic(err) // a struct of strings and numbers always marshals
	}
	sum := sha256.Sum256(b)
	return b, hex.EncodeToString(sum[:])
}

// emptyHash is how the JSON of an entry with no Hash ends: Hash is its
// last field.
const emptyHash = `"hash":""}`

// SealEncoded sets Seq, Prev and Hash for an entry appended after prev
// (nil for the first entry) and returns its JSON, encoded once: the
// hashed JSON, with the hash put in. e's time is kept in UTC, as it is
// hashed.
func (e *AuditEntry) SealEncoded(prev *AuditEntry) []byte {
	e.Time = e.Time.UTC()
	e.Seq, e.Prev = 1, ""
	if prev != nil {
		e.Seq, e.Prev = prev.Seq+1, prev.Hash
	}
	b, hash := e.unsealed()
	e.Hash = hash
	if !bytes.HasSuffix(b, []byte(emptyHash)) { // a field after Hash: encode it whole
		out, err := json.Marshal(e)
		if err != nil {
			panic(err)
		}
		return out
	}
	out := make([]byte, 0, len(b)+len(hash))
	out = append(out, b[:len(b)-len(emptyHash)]...)
	return append(append(append(out, `"hash":"`...), hash...), `"}`...)
}

// ChainError says where an audit chain breaks.
type ChainError struct {
	Seq    uint64
	Reason string
}

func (e *ChainError) Error() string {
	return fmt.Sprintf("audit record %d: %s", e.Seq, e.Reason)
}

// ChainVerifier checks entries one at a time, in the order they were
// appended.
type ChainVerifier struct {
	prev *AuditEntry
	n    uint64
}

// Next checks the next entry.
func (v *ChainVerifier) Next(e AuditEntry) error {
	want := uint64(1)
	prevHash := ""
	if v.prev != nil {
		want, prevHash = v.prev.Seq+1, v.prev.Hash
	}
	switch {
	case e.Seq != want:
		return &ChainError{Seq: want, Reason: fmt.Sprintf("missing: the next record found is %d", e.Seq)}
	case e.Prev != prevHash:
		return &ChainError{Seq: e.Seq, Reason: "does not follow the record before it (its previous-hash differs)"}
	case e.ComputeHash() != e.Hash:
		return &ChainError{Seq: e.Seq, Reason: "its content does not match its hash: it was edited"}
	}
	v.prev = &e
	v.n++
	return nil
}

// Count returns how many entries were checked.
func (v *ChainVerifier) Count() uint64 { return v.n }

// Last returns the last entry checked, nil when none.
func (v *ChainVerifier) Last() *AuditEntry { return v.prev }

// AuditLog is the append-only, hash-chained log of every request, decision
// and outcome. Append seals the entry (Seq, Prev, Hash) atomically.
type AuditLog interface {
	Append(ctx context.Context, e AuditEntry) (AuditEntry, error)
	Tail(ctx context.Context, n int) ([]AuditEntry, error)
}
