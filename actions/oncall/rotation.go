package oncall

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/infrabot/infrabot/actions"
)

// Rotation is how a schedule's members take turns: shifts of Days days
// (1 daily, 7 weekly, or every N days), each starting at the handoff time
// of day in the schedule's time zone, counted from Start.
//
// Shifts are counted in calendar days in the time zone, never in hours:
// a handoff at 09:00 stays at 09:00 local across a change to or from
// summer time, when a shift is an hour shorter or longer.
type Rotation struct {
	Days         int
	Hour, Minute int
	Location     *time.Location
	// Start is the calendar date (in Location) of the first shift, which
	// the first member takes; later shifts follow every Days days.
	Start civilDate
}

// civilDate is a calendar date, without a time or a zone.
type civilDate struct {
	Year  int
	Month time.Month
	Day   int
}

// days returns the number of calendar days from d to e.
func (d civilDate) daysTo(e civilDate) int {
	a := time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC)
	b := time.Date(e.Year, e.Month, e.Day, 0, 0, 0, 0, time.UTC)
	return int(b.Sub(a) / (24 * time.Hour))
}

func dateOf(t time.Time) civilDate {
	y, m, d := t.Date()
	return civilDate{y, m, d}
}

// defaultStart is the date shifts are counted from when a schedule does
// not say: a Monday, so that weekly rotations handing off on Monday need
// no start.
var defaultStart = civilDate{2024, time.January, 1}

var (
	handoffPattern = regexp.MustCompile(`^(?:([A-Za-z]{3})[a-z]* )?([01]?[0-9]|2[0-3]):([0-5][0-9])$`)
	everyPattern   = regexp.MustCompile(`^every ([1-9][0-9]{0,2}) ?(?:d|days?)$`)
	weekdays       = map[string]time.Weekday{"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday, "thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday}
)

// ParseRotation reads a schedule's rotation ("daily", "weekly", "every 3
// days"), handoff ("09:00"; "Mon 09:00" for a weekly one), time zone (an
// IANA name; "" is UTC) and start ("2026-01-05"; "" counts from a fixed
// Monday in 2024). A weekly rotation hands off on the handoff's weekday,
// Monday when it names none. Errors are of kind Invalid and say what to
// write.
func ParseRotation(rotation, handoff, timezone, start string) (Rotation, error) {
	var r Rotation
	switch rot := strings.ToLower(strings.TrimSpace(rotation)); {
	case rot == "daily":
		r.Days = 1
	case rot == "weekly":
		r.Days = 7
	case everyPattern.MatchString(rot):
		r.Days, _ = strconv.Atoi(everyPattern.FindStringSubmatch(rot)[1])
	default:
		return r, actions.Errorf(actions.Invalid, "rotation %q: write daily, weekly, or every N days (like every 3 days)", rotation)
	}
	if handoff == "" {
		handoff = "09:00"
	}
	m := handoffPattern.FindStringSubmatch(strings.TrimSpace(handoff))
	if m == nil {
		return r, actions.Errorf(actions.Invalid, "handoff %q: write a time like 09:00, or a day and a time like Mon 09:00 for a weekly rotation", handoff)
	}
	r.Hour, _ = strconv.Atoi(m[2])
	r.Minute, _ = strconv.Atoi(m[3])
	day, hasDay := time.Monday, m[1] != ""
	if hasDay {
		var ok bool
		if day, ok = weekdays[strings.ToLower(m[1])]; !ok {
			return r, actions.Errorf(actions.Invalid, "handoff %q: %q is not a day of the week (Mon, Tue, …)", handoff, m[1])
		}
		if r.Days != 7 {
			return r, actions.Errorf(actions.Invalid, "handoff %q names a day, which only a weekly rotation has; write the time alone, like 09:00", handoff)
		}
	}
	loc, err := time.LoadLocation(timezone)
	if err != nil || strings.EqualFold(timezone, "local") {
		return r, actions.Errorf(actions.Invalid, "%q is not a time zone: write an IANA name such as Europe/Prague or UTC", timezone)
	}
	r.Location = loc
	r.Start = defaultStart
	if start != "" {
		t, err := time.Parse("2006-01-02", start)
		if err != nil {
			return r, actions.Errorf(actions.Invalid, "start %q: write a date like 2026-01-05", start)
		}
		r.Start = dateOf(t)
	}
	if r.Days == 7 {
		// The first shift starts on the handoff's weekday, on or after Start.
		first := time.Date(r.Start.Year, r.Start.Month, r.Start.Day, 12, 0, 0, 0, time.UTC)
		for first.Weekday() != day {
			first = first.AddDate(0, 0, 1)
		}
		r.Start = dateOf(first)
	}
	return r, nil
}

// shiftStart returns when shift k starts (shift 0 is the one on Start).
func (r Rotation) shiftStart(k int) time.Time {
	return time.Date(r.Start.Year, r.Start.Month, r.Start.Day+k*r.Days, r.Hour, r.Minute, 0, 0, r.Location)
}

// Shift returns the shift that holds t: its number and when it starts
// and ends.
func (r Rotation) Shift(t time.Time) (k int, from, until time.Time) {
	d := r.Start.daysTo(dateOf(t.In(r.Location)))
	k = floorDiv(d, r.Days)
	for r.shiftStart(k).After(t) {
		k--
	}
	for !r.shiftStart(k + 1).After(t) {
		k++
	}
	return k, r.shiftStart(k), r.shiftStart(k + 1)
}

func floorDiv(a, b int) int {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// String says the rotation as people write it.
func (r Rotation) String() string {
	at := fmt.Sprintf("%02d:%02d %s", r.Hour, r.Minute, r.Location)
	switch r.Days {
	case 1:
		return "daily at " + at
	case 7:
		return fmt.Sprintf("weekly on %s at %s", r.shiftStart(0).Weekday(), at)
	}
	return fmt.Sprintf("every %d days at %s", r.Days, at)
}
