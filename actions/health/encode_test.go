package health

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"
)

// A record is stored as encoding/json would store it, byte for byte, so
// that load (which reads it with encoding/json) and older records agree.
func TestRecordEncodesAsEncodingJSON(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 1, 16, 54, 51, 123456789, time.UTC)
	paris := time.FixedZone("CET", 3600)
	full := record{Failures: 3, Successes: 0, FailingSince: at.Add(-time.Hour), Incident: 42,
		Snooze:    &Snooze{Until: at.Add(time.Hour), By: "alice", Reason: `deploy "big" <one>`},
		FirstSeen: at.Add(-48 * time.Hour), LastPing: at.In(paris), Started: at.Add(time.Second)}
	for i := range HistoryLength + 3 {
		full.add(Result{Time: at.Add(time.Duration(i) * 10 * time.Minute), OK: i%3 != 0,
			Detail: fmt.Sprintf("status %d", 200+i), Latency: time.Duration(i) * time.Millisecond, Due: at})
	}
	// A field added to record must be encoded by appendJSON too: the full
	// record sets every field, so the comparison below covers it.
	rv := reflect.ValueOf(full)
	for i := range rv.NumField() {
		if rv.Field(i).IsZero() && rv.Type().Field(i).Name != "Successes" {
			t.Fatalf("the full record leaves %s unset: set it, and encode it in appendJSON", rv.Type().Field(i).Name)
		}
	}
	tests := []struct {
		name string
		rec  record
	}{
		{"empty", record{}},
		{"full", full},
		{"heartbeat", record{FirstSeen: at, LastPing: at.Add(time.Minute)}},
		{"whole seconds, no detail, no latency", record{Last: &Result{Time: at.Truncate(time.Second)}, Successes: 1}},
		{"details to escape", record{History: []Result{
			{Time: at, Detail: `the answer does not contain "ok"`},
			{Time: at, Detail: "a\\b\nc\td\x00 é ü 日本 \u2028 <&>"},
			{Time: at, Detail: "invalid \xff utf-8"},
			{Time: at.In(paris), OK: true, Detail: "connected", Latency: -1},
		}}},
		{"negative counts", record{Failures: -1, Successes: -2, Incident: -3, Hours: []hour{{Hour: -1, Up: -1, Total: 0}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := json.Marshal(&tt.rec)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tt.rec.appendJSON(nil)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("appendJSON:\n%s\nencoding/json:\n%s", got, want)
			}
		})
	}
}

// A time encoding/json refuses (a year past 9999) is refused too, not
// stored in a form load could not read.
func TestRecordWithUnencodableTimeIsRefused(t *testing.T) {
	t.Parallel()
	rec := record{FirstSeen: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}
	if _, err := json.Marshal(&rec); err == nil {
		t.Fatal("encoding/json encodes year 10000; the test's premise is wrong")
	}
	if _, err := rec.appendJSON(nil); err == nil {
		t.Error("appendJSON encoded year 10000; want an error as encoding/json gives")
	}
}

// The size hint covers a typical record, so that encoding it takes one
// allocation.
func TestRecordSizeHintCoversTypicalRecord(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 1, 16, 54, 51, 123456789, time.UTC)
	var rec record
	rec.FirstSeen = at
	for i := range 3 * HistoryLength {
		rec.add(Result{Time: at.Add(time.Duration(i) * 47 * time.Minute), OK: true, Detail: "status 200", Latency: 1234567 * time.Nanosecond})
	}
	v, err := rec.appendJSON(nil)
	if err != nil {
		t.Fatal(err)
	}
	if hint := rec.sizeHint(); hint < len(v) || hint > 2*len(v) {
		t.Errorf("size hint %d for an encoding of %d bytes", hint, len(v))
	}
}
