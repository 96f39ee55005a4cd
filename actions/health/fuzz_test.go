package health_test

import (
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/health"
)

func TestParseSnooze(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{
		"30m": 30 * time.Minute, "1h": time.Hour, "2h30m": 150 * time.Minute, "1d": 24 * time.Hour, "7d": 7 * 24 * time.Hour, "0": 0,
	} {
		if got, err := health.ParseSnooze(in); err != nil || got != want {
			t.Errorf("ParseSnooze(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	for _, in := range []string{"", "soon", "-1h", "8d", "169h", "99999999999d", "1.5d", "d"} {
		if _, err := health.ParseSnooze(in); actions.ErrorKind(err) != actions.Invalid {
			t.Errorf("ParseSnooze(%q): error %v, want one of kind invalid", in, err)
		}
	}
}

// FuzzParseSnooze checks that no input makes the snooze parser panic, and
// that what it accepts is between 0 and MaxSnooze.
func FuzzParseSnooze(f *testing.F) {
	for _, s := range []string{"30m", "1h", "1d", "7d", "8d", "-1h", "1e9h", "9223372036854775807d", "", "d", "0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := health.ParseSnooze(s)
		if err == nil && (d < 0 || d > health.MaxSnooze) {
			t.Fatalf("ParseSnooze(%q) = %s, outside 0..7d", s, d)
		}
		if err != nil && actions.ErrorKind(err) != actions.Invalid {
			t.Fatalf("ParseSnooze(%q): error of kind %s", s, actions.ErrorKind(err))
		}
	})
}
