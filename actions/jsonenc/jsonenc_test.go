package jsonenc

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// Every byte, every code point's class and every kind of invalid UTF-8
// is quoted as encoding/json quotes it.
func TestAppendStringIsEncodingJSONs(t *testing.T) {
	var texts []string
	for c := range 256 {
		texts = append(texts, string([]byte{byte(c)}), "a"+string([]byte{byte(c)})+"z")
	}
	for _, r := range []rune{0x7f, 0x80, 0x7ff, 0x800, 0x2027, 0x2028, 0x2029, 0x202a, 0xfffd, 0xffff, 0x10000, 0x10ffff} {
		texts = append(texts, "x"+string(r)+"y")
	}
	texts = append(texts, "", `"quoted" \ back`, "<b>&amp;</b>", "\xed\xa0\x80 surrogate half", "\xc0\xaf overlong", "cut \xe2\x82", "ünïcode ✓ 𝄞")
	for _, s := range texts {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendString([]byte("prefix"), s); !bytes.Equal(got, append([]byte("prefix"), want...)) {
			t.Errorf("AppendString(%q) = %q, encoding/json writes %q", s, got[len("prefix"):], want)
		}
	}
}

// Times across JSON's years are written as time.Time.MarshalJSON writes
// them, and one it refuses is refused with its error.
func TestAppendTimeIsMarshalJSONs(t *testing.T) {
	for _, year := range []int{0, 1, 999, 1000, 1970, 2026, 9999} {
		for _, nsec := range []int{0, 1, 120000000, 123456789} {
			for _, loc := range []*time.Location{time.UTC, time.FixedZone("x", 5*3600+1800)} {
				at := time.Date(year, 12, 31, 23, 59, 59, nsec, loc)
				want, _ := at.MarshalJSON()
				if got, err := AppendTime(nil, at); err != nil || !bytes.Equal(got, want) {
					t.Errorf("AppendTime(%v) = %s, %v; MarshalJSON writes %s", at, got, err, want)
				}
			}
		}
	}
	if b, err := AppendTime([]byte("x"), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)); err == nil || string(b) != "x" {
		t.Errorf("year 10000: %q, %v; want MarshalJSON's error and nothing written", b, err)
	}
}
