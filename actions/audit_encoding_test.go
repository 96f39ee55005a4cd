package actions

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// SealEncoded's JSON is byte for byte what encoding/json writes for the
// sealed entry, so that the chain's records read and hash as before.
func TestSealEncodedIsTheEntrysJSON(t *testing.T) {
	prev := &AuditEntry{Seq: 41, Hash: "ab12"}
	for _, e := range []AuditEntry{
		{Time: time.Date(2026, 12, 1, 9, 0, 0, 5, time.FixedZone("x", 3600)), Person: "alice", Event: "request", Action: "whoami"},
		{Person: `quote " and \ and <html> and ünïcode`, Event: "outcome", Env: "staging", Run: 7, Detail: "line\nbreak"},
		{},
	} {
		got := e.SealEncoded(prev)
		want, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("SealEncoded wrote\n%s\nencoding/json writes\n%s", got, want)
		}
		if e.Seq != 42 || e.Prev != "ab12" || e.Hash != e.ComputeHash() {
			t.Errorf("sealed as %d after %q with hash %s, want 42 after ab12 and its own hash", e.Seq, e.Prev, e.Hash)
		}
	}
}
