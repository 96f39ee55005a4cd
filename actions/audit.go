package actions

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/infrabot/infrabot/actions/jsonenc"
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
	b := e.appendJSON(make([]byte, 0, 320))
	sum := sha256.Sum256(b)
	return b, hex.EncodeToString(sum[:])
}

// appendJSON appends the entry's JSON, byte for byte what encoding/json
// writes for it (the chain hashes those bytes, and records written before
// were encoded by it), without its reflection: the store seals records
// one after the other on its single writer.
func (e *AuditEntry) appendJSON(b []byte) []byte {
	b = append(b, `{"seq":`...)
	b = strconv.AppendUint(b, e.Seq, 10)
	b = append(b, `,"time":`...)
	b, err := jsonenc.AppendTime(b, e.Time)
	if err != nil {
		// encoding/json refuses it too; no clock infrabot reads gives
		// such a time.
		panic(fmt.Sprintf("an audit record's time: %v", err))
	}
	b = jsonenc.AppendString(append(b, `,"person":`...), e.Person)
	b = jsonenc.AppendString(append(b, `,"event":`...), e.Event)
	if e.Action != "" {
		b = jsonenc.AppendString(append(b, `,"action":`...), e.Action)
	}
	if e.Env != "" {
		b = jsonenc.AppendString(append(b, `,"env":`...), e.Env)
	}
	if e.Run != 0 {
		b = strconv.AppendInt(append(b, `,"run":`...), e.Run, 10)
	}
	if e.Detail != "" {
		b = jsonenc.AppendString(append(b, `,"detail":`...), e.Detail)
	}
	b = jsonenc.AppendString(append(b, `,"prev":`...), e.Prev)
	b = jsonenc.AppendString(append(b, `,"hash":`...), e.Hash)
	return append(b, '}')
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
	b = append(b[:len(b)-len(emptyHash)], `"hash":"`...)
	return append(append(b, hash...), `"}`...)
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
