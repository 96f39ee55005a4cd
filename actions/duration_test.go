package actions_test

import (
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
)

func TestParseDuration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"90m", 90 * time.Minute, true},
		{"2h30m", 150 * time.Minute, true},
		{"0", 0, true},
		{"0d", 0, true},
		{"3d", 72 * time.Hour, true},
		{"3660d", 3660 * 24 * time.Hour, true},
		{"3661d", 0, false}, // more than ten years in days
		{"99999999999999999999d", 0, false},
		{"-1d", 0, false},
		{"-1h", 0, false},
		{"1.5d", 0, false},
		{"d", 0, false},
		{"", 0, false},
		{"soon", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			d, ok := actions.ParseDuration(tc.in)
			if ok != tc.ok || (ok && d != tc.want) {
				t.Errorf("ParseDuration(%q) = %s, %v; want %s, %v", tc.in, d, ok, tc.want, tc.ok)
			}
		})
	}
}
