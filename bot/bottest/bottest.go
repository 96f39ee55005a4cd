// Package bottest holds what the chat adapters' tests share that belongs
// to no one platform, such as a router that stands in for the engine so
// that a test sees what reached it.
package bottest

import (
	"context"
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
