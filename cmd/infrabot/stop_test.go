package main

import (
	"strings"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions/actionstest"
)

// TestStopWithNoRunSaysNothingOfRunsInProgress: a stop with no run going
// does not say that runs in progress may finish within the grace period
// (in the log, or the shell's console): there are none to wait for.
func TestStopWithNoRunSaysNothingOfRunsInProgress(t *testing.T) {
	t.Parallel()
	f := newOneAdminFile(t)
	f.write("")
	var logs actionstest.Buffer
	app := f.open(&logs)
	var said []string
	stopRuns(app.Engine, 5*time.Second, func(msg string) { said = append(said, msg) })
	for _, s := range said {
		if strings.Contains(s, "runs in progress") {
			t.Errorf("with no run going, the stop said: %q", s)
		}
	}
}
