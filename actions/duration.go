package actions

import (
	"strconv"
	"strings"
	"time"
)

// maxDays bounds a length written in days: ten years.
const maxDays = 3660

// ParseDuration reads a length of time as people write it, in a command
// or in the config: Go's (90s, 15m, 2h30m) or whole days up to ten years
// (14d). ok is false for anything else, and for a negative length; the
// caller says what is too long.
func ParseDuration(s string) (d time.Duration, ok bool) {
	if n, isDays := strings.CutSuffix(s, "d"); isDays {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 || days > maxDays {
			return 0, false
		}
		return time.Duration(days) * 24 * time.Hour, true
	}
	d, err := time.ParseDuration(s)
	return d, err == nil && d >= 0
}
