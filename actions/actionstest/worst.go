package actionstest

import (
	"fmt"
	"strings"
	"time"

	"github.com/infrabot/infrabot/actions"
)

// WorstRun is a provision of 200 servers with everything as long as it
// gets, once done of them have ended: long names, each server failed with
// a long fault full of characters chat platforms escape, 30 output lines
// of 4 KiB, and a long error. Each adapter's renderer must keep every
// message of it within its platform's limits.
func WorstRun(done int) *actions.Run {
	at := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	long := strings.Repeat("<&>", 400)
	r := &actions.Run{
		ID: 99, Command: "provision " + strings.Repeat("e", 200), Person: "bob", State: actions.Running, Created: at, Started: at,
		Plan:   actions.Plan{Summary: "create 200, keep 0, delete 0"},
		Groups: []actions.StepGroup{{Name: "create", Total: 200, Done: "created", Running: "building"}},
	}
	for i := range 200 {
		s := actions.Step{Name: fmt.Sprintf("create %s-%d", strings.Repeat("n", 60), i), Group: "create", State: actions.Running, Detail: "BUILD " + long, Started: at}
		if i < done {
			s.State, s.Detail, s.Finished = actions.Failed, "went to ERROR: "+long, at.Add(time.Minute)
		}
		r.Steps = append(r.Steps, s)
	}
	for range 30 {
		r.Output = append(r.Output, strings.Repeat("<&>", 1365))
	}
	r.OutputOmitted = 5000
	if done == 200 {
		r.State, r.Finished, r.Error = actions.Failed, at.Add(time.Hour), strings.Repeat("200 of 200 servers could not be created <&> ", 200)
	}
	return r
}

// Overfull are messages with far too much in them: every part far over
// any platform's limits (700 fields, lines, buttons, links and mentions),
// and a long summary under a title.
func Overfull() []actions.Message {
	many := actions.Message{
		Title: strings.Repeat("t", 500), Summary: strings.Repeat("<s>", 3000), Text: strings.Repeat("<x>", 3000),
		Footer: strings.Repeat("<f>", 3000), Tone: actions.ToneDanger,
	}
	for i := range 700 {
		many.Fields = append(many.Fields, actions.Field{Label: fmt.Sprint("label ", i), Value: strings.Repeat("<v>", 1000)})
		many.Lines = append(many.Lines, strings.Repeat("<l>", 2000))
		many.Buttons = append(many.Buttons, actions.Button{Label: strings.Repeat("b", 100), Command: "approve " + strings.Repeat("9", 3000)})
		many.Links = append(many.Links, actions.Link{Label: "log", URL: "https://logs.example.org/" + strings.Repeat("p", 100)})
		many.Mentions = append(many.Mentions, actions.Mention{Person: "bob", ID: "U02BOB"})
	}
	summaryOnly := actions.Message{Title: "run 1", Summary: strings.Repeat("<s>", 3000), Tone: actions.ToneWarning}
	return []actions.Message{many, summaryOnly}
}
