package oncall_test

import (
	"strings"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions/oncall"
)

func at(t *testing.T, s, zone string) time.Time {
	t.Helper()
	loc, err := time.LoadLocation(zone)
	if err != nil {
		t.Fatal(err)
	}
	v, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Shifts are counted in calendar days in the schedule's zone: across the
// changes to and from summer time the handoff stays at 09:00 local, and
// the shift around it is an hour shorter or longer.
func TestRotationShifts(t *testing.T) {
	t.Parallel()
	const prague = "Europe/Prague"
	tests := []struct {
		name                     string
		rotation, handoff, start string
		zone                     string
		when                     string // in zone
		shift                    int
		from, until              string // in zone
		length                   time.Duration
	}{
		{"weekly, mid-week", "weekly", "Mon 09:00", "2026-11-09", prague, "2026-11-21 13:00", 1, "2026-11-16 09:00", "2026-11-23 09:00", 7 * 24 * time.Hour},
		{"weekly, a minute before handoff", "weekly", "Mon 09:00", "2026-11-09", prague, "2026-11-23 08:59", 1, "2026-11-16 09:00", "2026-11-23 09:00", 7 * 24 * time.Hour},
		{"weekly, at handoff", "weekly", "Mon 09:00", "2026-11-09", prague, "2026-11-23 09:00", 2, "2026-11-23 09:00", "2026-11-30 09:00", 7 * 24 * time.Hour},
		{"weekly across the spring change (CET to CEST)", "weekly", "Mon 09:00", "2026-03-02", prague, "2026-03-28 12:00", 3, "2026-03-23 09:00", "2026-03-30 09:00", 7*24*time.Hour - time.Hour},
		{"weekly across the autumn change (CEST to CET)", "weekly", "Mon 09:00", "2026-10-05", prague, "2026-10-26 08:30", 2, "2026-10-19 09:00", "2026-10-26 09:00", 7*24*time.Hour + time.Hour},
		{"weekly, start not on the handoff day", "weekly", "Wed 18:30", "2026-11-09", "UTC", "2026-11-12 10:00", 0, "2026-11-11 18:30", "2026-11-18 18:30", 7 * 24 * time.Hour},
		{"daily, before the handoff", "daily", "09:00", "2026-11-01", prague, "2026-11-03 08:00", 1, "2026-11-02 09:00", "2026-11-03 09:00", 24 * time.Hour},
		{"daily across the spring change", "daily", "09:00", "2026-03-01", prague, "2026-03-29 10:00", 28, "2026-03-29 09:00", "2026-03-30 09:00", 24 * time.Hour},
		{"daily, the shift holding the change", "daily", "09:00", "2026-03-01", prague, "2026-03-29 04:00", 27, "2026-03-28 09:00", "2026-03-29 09:00", 23 * time.Hour},
		{"every 3 days across the autumn change (EDT to EST)", "every 3 days", "07:30", "2026-10-27", "America/New_York", "2026-11-01 12:00", 1, "2026-10-30 07:30", "2026-11-02 07:30", 3*24*time.Hour + time.Hour},
		{"before start counts backwards", "weekly", "Mon 09:00", "2026-11-09", prague, "2026-11-01 12:00", -2, "2026-10-26 09:00", "2026-11-02 09:00", 7 * 24 * time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, err := oncall.ParseRotation(tc.rotation, tc.handoff, tc.zone, tc.start)
			if err != nil {
				t.Fatal(err)
			}
			k, from, until := r.Shift(at(t, tc.when, tc.zone))
			if k != tc.shift {
				t.Errorf("shift %d, want %d", k, tc.shift)
			}
			if want := at(t, tc.from, tc.zone); !from.Equal(want) {
				t.Errorf("from %s, want %s", from, want)
			}
			if want := at(t, tc.until, tc.zone); !until.Equal(want) {
				t.Errorf("until %s, want %s", until, want)
			}
			if got := until.Sub(from); got != tc.length {
				t.Errorf("the shift lasts %s, want %s", got, tc.length)
			}
		})
	}
}

func TestParseRotationRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, rotation, handoff, zone, start, want string }{
		{"unknown rotation", "fortnightly", "09:00", "UTC", "", "write daily, weekly, or every N days"},
		{"zero days", "every 0 days", "09:00", "UTC", "", "write daily, weekly"},
		{"bad time", "daily", "9am", "UTC", "", "write a time like 09:00"},
		{"hour 24", "daily", "24:00", "UTC", "", "write a time like 09:00"},
		{"a day for a daily rotation", "daily", "Mon 09:00", "UTC", "", "only a weekly rotation has"},
		{"unknown day", "weekly", "Fun 09:00", "UTC", "", "is not a day of the week"},
		{"bad zone", "weekly", "Mon 09:00", "Mars/Olympus", "", "is not a time zone"},
		{"bad start", "weekly", "Mon 09:00", "UTC", "5 Jan", "write a date like 2026-01-05"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := oncall.ParseRotation(tc.rotation, tc.handoff, tc.zone, tc.start)
			if err == nil || !contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}

func FuzzParseRotation(f *testing.F) {
	for _, s := range [][3]string{{"weekly", "Mon 09:00", "Europe/Prague"}, {"daily", "23:59", "UTC"}, {"every 3 days", "07:30", "America/New_York"}, {"every 999d", "0:00", ""}} {
		f.Add(s[0], s[1], s[2])
	}
	when := time.Date(2026, 3, 29, 1, 30, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, rotation, handoff, zone string) {
		r, err := oncall.ParseRotation(rotation, handoff, zone, "")
		if err != nil {
			return
		}
		_, from, until := r.Shift(when)
		if from.After(when) || !until.After(when) {
			t.Fatalf("%s: shift %s–%s does not hold %s", r, from, until, when)
		}
	})
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"90m", "8h", "2d", "31d", "32d", "0", "-1h", "1e9h", "99999999999d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := oncall.ParseDuration(s)
		if err == nil && (d <= 0 || d > oncall.MaxOverride) {
			t.Fatalf("%q read as %s", s, d)
		}
	})
}
