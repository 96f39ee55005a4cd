package slack

import (
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/infrabot/infrabot/actions"
)

// busyText is what a person is told when infrabot cannot take their
// command now. It did not run, so they may simply send it again.
func busyText(command string) string {
	return fmt.Sprintf(":hourglass: infrabot is busy right now and did not run `%s`; please try again in a few seconds.", command)
}

// busyNotice is how often, at most, a person whose click or message was
// refused is told so in a separate message (a slash command is told in
// its own answer, every time).
const busyNotice = 10 * time.Second

// busyRefusals counts the requests refused because infrabot was busy and logs
// them as one line per interval, however many there were: under a flood a
// line per request would bury the log and cost as much as the requests.
type busyRefusals struct {
	log      *slog.Logger
	now      func() time.Time
	interval time.Duration

	mu       sync.Mutex
	byPath   map[string]int
	people   map[string]int
	timer    *time.Timer
	notified map[string]time.Time // when each person was last told in a message
}

func newBusyRefusals(log *slog.Logger, now func() time.Time, interval time.Duration) *busyRefusals {
	return &busyRefusals{log: log, now: now, interval: interval, byPath: map[string]int{}, people: map[string]int{}, notified: map[string]time.Time{}}
}

// add counts one refused request; the first of an interval schedules the
// line that reports them all.
func (r *busyRefusals) add(path, user string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.byPath[path]++
	r.people[user]++
	if r.timer == nil {
		r.timer = time.AfterFunc(r.interval, r.flush)
	}
}

// notify reports whether user should be told in a message that a click or
// message was refused: at most once per busyNotice.
func (r *busyRefusals) notify(user string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if last, ok := r.notified[user]; ok && now.Sub(last) < busyNotice {
		return false
	}
	for u, t := range r.notified { // keep the map to the people refused lately
		if now.Sub(t) >= busyNotice {
			delete(r.notified, u)
		}
	}
	r.notified[user] = now
	return true
}

// flush logs what was refused since the last line, if anything.
func (r *busyRefusals) flush() {
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
		user string
		n    int
	}
	var top []count
	for u, n := range people {
		top = append(top, count{u, n})
	}
	sort.Slice(top, func(i, j int) bool { return top[i].n > top[j].n || top[i].n == top[j].n && top[i].user < top[j].user })
	var most []string
	for _, c := range top[:min(3, len(top))] {
		most = append(most, fmt.Sprintf("%s:%d", c.user, c.n))
	}
	r.log.Warn("busy: requests from Slack were refused and told to retry",
		"refused", total, "interval", r.interval, "by_endpoint", strings.Join(paths, " "),
		"people", len(people), "most", strings.Join(most, " "))
}

// busyMessage is the separate message telling a person their click or
// message was not run.
func busyMessage(command string) actions.Message {
	return actions.Message{Summary: busyText(command), Tone: actions.ToneWarning}
}
