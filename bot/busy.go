package bot

import (
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"
)

// BusyNotice is how often, at most, a person whose request was refused
// for want of room is told so in a separate message (an answer that says
// so itself is given every time).
const BusyNotice = 10 * time.Second

// Refusals counts the requests an adapter refused because infrabot was
// busy and logs them as one line per interval, however many there were:
// under a flood a line per request would bury the log and cost as much as
// the requests.
type Refusals struct {
	log      *slog.Logger
	from     string // who sent the requests, for the log line: "Slack"
	now      func() time.Time
	interval time.Duration

	mu       sync.Mutex
	byPath   map[string]int
	people   map[string]int
	timer    *time.Timer
	notified map[string]time.Time // when each person was last told in a message
}

// NewRefusals returns a count of refusals of requests from the platform
// named from ("Slack", "Discord"), logged to log at most once per
// interval.
func NewRefusals(log *slog.Logger, from string, now func() time.Time, interval time.Duration) *Refusals {
	return &Refusals{log: log, from: from, now: now, interval: interval, byPath: map[string]int{}, people: map[string]int{}, notified: map[string]time.Time{}}
}

// Add counts one refused request, which came by path (an endpoint, or
// "gateway") from person; the first of an interval schedules the line
// that reports them all.
func (r *Refusals) Add(path, person string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.byPath[path]++
	r.people[person]++
	if r.timer == nil {
		r.timer = time.AfterFunc(r.interval, r.Flush)
	}
}

// Notify reports whether person should be told in a message that a
// request was refused: at most once per BusyNotice.
func (r *Refusals) Notify(person string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if last, ok := r.notified[person]; ok && now.Sub(last) < BusyNotice {
		return false
	}
	for u, t := range r.notified { // keep the map to the people refused lately
		if now.Sub(t) >= BusyNotice {
			delete(r.notified, u)
		}
	}
	r.notified[person] = now
	return true
}

// Flush logs what was refused since the last line, if anything. Adapters
// call it on Close, so that the last interval is not lost.
func (r *Refusals) Flush() {
	r.mu.Lock()
	byPath, people := r.byPath, r.people
	r.byPath, r.people = map[string]int{}, map[string]int{}
	if r.timer != nil {
		r.timer.Stop()
		r.timer = nil
	}
	r.mu.Unlock()
	total := 0
	var paths []string
	for p, n := range byPath {
		total += n
		paths = append(paths, fmt.Sprintf("%s:%d", p, n))
	}
	if total == 0 {
		return
	}
	sort.Strings(paths)
	type count struct {
		person string
		n      int
	}
	var top []count
	for u, n := range people {
		top = append(top, count{u, n})
	}
	sort.Slice(top, func(i, j int) bool {
		return top[i].n > top[j].n || top[i].n == top[j].n && top[i].person < top[j].person
	})
	var most []string
	for _, c := range top[:min(3, len(top))] {
		most = append(most, fmt.Sprintf("%s:%d", c.person, c.n))
	}
	r.log.Warn("busy: requests from "+r.from+" were refused and told to retry",
		"refused", total, "interval", r.interval, "by_endpoint", strings.Join(paths, " "),
		"people", len(people), "most", strings.Join(most, " "))
}

// BusyText is what a person is told when infrabot cannot take their
// command now (icon first, in the platform's spelling). It did not run,
// so they may simply send it again.
func BusyText(icon, command string) string {
	return fmt.Sprintf("%s infrabot is busy right now and did not run `%s`; please try again in a few seconds.", icon, command)
}
