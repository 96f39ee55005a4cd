package pagerduty

import (
	"bytes"
	"strings"
	"testing"
)

// A delivery costs at most one HMAC of its body per secret, however many
// entries its X-PagerDuty-Signature holds: an unsigned delivery with a
// header full of entries is refused without hashing the body once per
// entry.
func TestVerifyCostsOneMACPerSecret(t *testing.T) {
	t.Parallel()
	body := []byte(`{"event":{"event_type":"incident.resolved"}}`)
	secrets := []string{"s1", "s2"}
	good := "v1=" + mac("s2", body)
	junk := "v1=" + strings.Repeat("0", 64)
	tests := []struct {
		name   string
		header string
		ok     bool
		macs   int // at most
	}{
		{"the valid one among several", strings.Join([]string{junk, "v1=", good, "v0=zz"}, ","), true, len(secrets)},
		{"signed with both while rotating", Sign([]string{"s1", "s2"}, body), true, len(secrets)},
		{"as many wrong entries as allowed", strings.Repeat(junk+",", MaxSignatures-1) + junk, false, len(secrets)},
		{"10,000 well-formed entries", strings.Repeat(junk+",", 9999) + junk, false, 0},
		{"10,000 entries, the valid one among them", strings.Repeat(junk+",", 9999) + good, false, 0},
		{"10,000 empty entries", strings.Repeat("v1=,", 10000), false, 0},
		{"entries that are not 64 hex characters", "v1=" + good[3:66] + ",v1=" + good[3:] + "0,v1=" + strings.Repeat("z", 64), false, 0},
		{"unsigned", "", false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			n := 0
			count := func(secret string, body []byte) []byte {
				n++
				return sum(secret, body)
			}
			err := verify(secrets, tc.header, body, count)
			if (err == nil) != tc.ok {
				t.Errorf("verify = %v, want accepted %v", err, tc.ok)
			}
			if n > tc.macs {
				t.Errorf("%d HMACs of the body computed, want at most %d (%d entries × %d secrets)", n, tc.macs, strings.Count(tc.header, ",")+1, len(secrets))
			}
		})
	}
}

// BenchmarkVerifyUnsigned is the cost of refusing the largest unsigned
// delivery the public server lets through: a 1 MiB body and a header of
// ~16,000 entries.
func BenchmarkVerifyUnsigned(b *testing.B) {
	body := bytes.Repeat([]byte("x"), MaxWebhookBody)
	header := strings.Repeat("v1=,", 16<<10)
	for b.Loop() {
		if Verify([]string{"secret-one", "secret-two"}, header, body) {
			b.Fatal("an unsigned delivery was accepted")
		}
	}
}
