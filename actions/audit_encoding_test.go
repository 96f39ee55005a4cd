package actions

import (
	"bytes"
	"encoding/json"
	"reflect"
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

// Every field of an entry is encoded as encoding/json encodes it: the
// entry here has each of its fields set (found by reflection, so that a
// field added to AuditEntry and not to appendJSON fails here).
func TestAppendJSONCoversEveryField(t *testing.T) {
	var e AuditEntry
	v := reflect.ValueOf(&e).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.String:
			f.SetString(v.Type().Field(i).Name + ` <"\` + "\u2028\xff")
		case reflect.Int64:
			f.SetInt(-int64(i) - 1)
		case reflect.Uint64:
			f.SetUint(uint64(i) + 1)
		case reflect.Struct:
			f.Set(reflect.ValueOf(time.Date(2026, 12, 1, 19, 0, 0, 123456789, time.UTC)))
		default:
			t.Fatalf("AuditEntry.%s is a %s: teach appendJSON and this test about it", v.Type().Field(i).Name, f.Kind())
		}
	}
	encodesAsJSON(t, e)
}

// encodesAsJSON fails t unless appendJSON writes e as encoding/json does.
func encodesAsJSON(t *testing.T, e AuditEntry) {
	t.Helper()
	want, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.appendJSON(nil); !bytes.Equal(got, want) {
		t.Errorf("appendJSON wrote\n%q\nencoding/json writes\n%q", got, want)
	}
}

// FuzzAuditJSON holds appendJSON to encoding/json, whatever the text:
// each field has its own, so that one encoded under another's name, or
// left out when another is empty, shows.
func FuzzAuditJSON(f *testing.F) {
	for i, s := range []string{"", "alice", `"quoted" \ back`, "<b>&amp;</b>", "tab\there\nnew\rline\b\f\x00\x1f\x7f",
		"ünïcode ✓ 𝄞", "\u2028\u2029", "bad \xff\xfe utf-8 \xe2\x82", "\xed\xa0\x80 surrogate"} {
		other := []string{"", "staging", "x"}[i%3]
		f.Add(uint64(7), int64(-3), int64(1764615600123456789), s, other, s, other, s, "ab12", "")
	}
	f.Fuzz(func(t *testing.T, seq uint64, run, nanos int64, person, event, action, env, detail, prev, hash string) {
		e := AuditEntry{Seq: seq, Time: time.Unix(0, nanos).UTC(), Person: person, Event: event, Action: action,
			Env: env, Run: run, Detail: detail, Prev: prev, Hash: hash}
		encodesAsJSON(t, e)
	})
}

// Times across JSON's whole range of years are written as
// time.Time.MarshalJSON writes them: the fuzz target's reach only
// 1677–2262.
func TestAppendJSONTimesAcrossTheYears(t *testing.T) {
	for _, year := range []int{0, 1, 999, 1000, 1970, 2026, 9999} {
		for _, nsec := range []int{0, 1, 120000000, 123456789} {
			encodesAsJSON(t, AuditEntry{Time: time.Date(year, 12, 31, 23, 59, 59, nsec, time.UTC), Person: "p", Event: "e"})
		}
	}
}
