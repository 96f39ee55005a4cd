// Package bottest holds what the chat adapters' tests share that belongs
// to no one platform, such as a router that stands in for the engine so
// that a test sees what reached it.
package bottest

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/bot"
)

// LineCounter is a router that counts the lines it is given and runs
// none of them: the replay tests ask how often a line reached the engine.
type LineCounter struct{ n atomic.Int32 }

// Handle counts in and answers nothing.
func (c *LineCounter) Handle(ctx context.Context, in bot.Incoming) (actions.Reply, bool) {
	c.n.Add(1)
	return actions.Reply{}, false
}

// Lines returns how many lines Handle was given.
func (c *LineCounter) Lines() int { return int(c.n.Load()) }

// GateRouter is a router that holds every line it is given until Open is
// called, then records the order the lines ran in: the overload tests
// fill an adapter's queue behind the gate and then ask what ran, in what
// order and how often.
type GateRouter struct {
	open chan struct{}
	mu   sync.Mutex
	ran  []string
}

// NewGateRouter returns a GateRouter whose gate is shut.
func NewGateRouter() *GateRouter {
	return &GateRouter{open: make(chan struct{})}
}

// Handle waits for the gate to open, records in's text and answers
// nothing.
func (g *GateRouter) Handle(ctx context.Context, in bot.Incoming) (actions.Reply, bool) {
	<-g.open
	g.mu.Lock()
	g.ran = append(g.ran, in.Text)
	g.mu.Unlock()
	return actions.Reply{}, false
}

// Open lets every held line, and every later one, through. Call it once.
func (g *GateRouter) Open() { close(g.open) }

// Ran returns the texts of the lines that have run, in the order they
// ran, a line that ran twice appearing twice.
func (g *GateRouter) Ran() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.ran...)
}

// ContainsAll reports whether s contains every one of want: the story
// tests wait for a message that says each of a few things, in any order.
func ContainsAll(s string, want []string) bool {
	for _, x := range want {
		if !strings.Contains(s, x) {
			return false
		}
	}
	return true
}
