package simulator

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"regexp"
	"time"
)

// newUUID returns a random version 4 UUID in its canonical form, as Nova,
// Glance and Neutron use for ids.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// newHexID returns a UUID without dashes, the form Keystone uses for ids.
func newHexID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// passwordChars are the characters of Nova's generated admin passwords
// (nova.utils.generate_password leaves out look-alike characters).
const passwordChars = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

func randomString(n int, alphabet string) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$`)

// isUUIDLike reports whether s is a UUID as oslo's uuidutils.is_uuid_like
// accepts it: 32 hex digits, with or without the dashes.
func isUUIDLike(s string) bool { return uuidRE.MatchString(s) }

// Timestamp layouts of the services. Nova's isotime has no fraction,
// its launched_at has microseconds and no zone, Keystone has
// microseconds and a Z.
const (
	isoSeconds      = "2006-01-02T15:04:05Z"
	isoMicrosNoZone = "2006-01-02T15:04:05.000000"
	isoMicrosZ      = "2006-01-02T15:04:05.000000Z"
)

func isoTime(t time.Time) string { return t.UTC().Format(isoSeconds) }
