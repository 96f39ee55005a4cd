package slack

import (
	"context"
	"sync"

	"github.com/infrabot/infrabot/bot"
)

// inbox holds the commands accepted and not yet taken by a worker, one
// queue per person (Slack user), and hands them out round-robin: each
// person with something waiting gets one command run before anyone gets a
// second. A person may have at most perPerson commands waiting, and
// everyone together at most capacity, so that one noisy person or script
// fills their own queue and is told to wait while the others still get
// through.
type inbox struct {
	capacity, perPerson int

	mu     sync.Mutex
	ready  sync.Cond // signalled when a command is put or the inbox closes
	queues map[string][]bot.Incoming
	// turns lists the people with commands waiting, in the order they
	// will be served.
	turns  []string
	n      int
	closed bool
	// room is closed (and replaced) whenever a command is taken, waking
	// those that wait for room.
	room chan struct{}
}

func newInbox(capacity, perPerson int) *inbox {
	q := &inbox{capacity: capacity, perPerson: perPerson, queues: map[string][]bot.Incoming{}, room: make(chan struct{})}
	q.ready.L = &q.mu
	return q
}

// put queues in unless the inbox is closed or full, for everyone or for
// in's author. wait makes it wait for room until ctx ends instead of
// refusing at once.
func (q *inbox) put(ctx context.Context, in bot.Incoming, wait bool) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		if q.closed {
			return false
		}
		if q.n < q.capacity && len(q.queues[in.UserID]) < q.perPerson {
			break
		}
		if !wait {
			return false
		}
		room := q.room
		q.mu.Unlock()
		select {
		case <-room:
			q.mu.Lock()
		case <-ctx.Done():
			q.mu.Lock()
			return false
		}
	}
	who := in.UserID
	if len(q.queues[who]) == 0 {
		q.turns = append(q.turns, who)
	}
	q.queues[who] = append(q.queues[who], in)
	q.n++
	q.ready.Signal()
	return true
}

// take returns the next command, waiting for one; ok is false once the
// inbox is closed and empty.
func (q *inbox) take() (in bot.Incoming, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.n == 0 {
		if q.closed {
			return bot.Incoming{}, false
		}
		q.ready.Wait()
	}
	who := q.turns[0]
	q.turns = q.turns[1:]
	waiting := q.queues[who]
	in = waiting[0]
	if len(waiting) == 1 {
		delete(q.queues, who)
	} else {
		q.queues[who] = waiting[1:]
		q.turns = append(q.turns, who)
	}
	q.n--
	close(q.room)
	q.room = make(chan struct{})
	return in, true
}

// close refuses further commands; those waiting are still taken.
func (q *inbox) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.closed = true
		q.ready.Broadcast()
		close(q.room)
		q.room = make(chan struct{})
	}
}
