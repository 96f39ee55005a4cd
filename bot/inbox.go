package bot

import (
	"context"
	"sync"
)

// Inbox holds the commands an adapter accepted and its workers have not
// yet taken, one queue per person, and hands them out round-robin: each
// person with something waiting gets one command run before anyone gets a
// second. A person may have at most perPerson commands waiting, and
// everyone together at most capacity, so that one noisy person or script
// fills their own queue and is told to wait while the others still get
// through. T is what an adapter queues: a bot.Incoming, or one with the
// platform's request to answer.
type Inbox[T any] struct {
	capacity, perPerson int

	mu     sync.Mutex
	ready  sync.Cond // signalled when a command is put or the inbox closes
	queues map[string][]T
	// turns lists the people with commands waiting, in the order they
	// will be served.
	turns  []string
	n      int
	closed bool
	// room is closed (and replaced) whenever a command is taken, waking
	// those that wait for room.
	room chan struct{}
}

// NewInbox returns an open inbox holding at most capacity commands, at
// most perPerson of them one person's. Both are at least 1.
func NewInbox[T any](capacity, perPerson int) *Inbox[T] {
	q := &Inbox[T]{capacity: max(capacity, 1), perPerson: max(perPerson, 1), queues: map[string][]T{}, room: make(chan struct{})}
	q.ready.L = &q.mu
	return q
}

// Put queues item, person's, unless the inbox is closed or full, for
// everyone or for person, and reports whether it did. wait makes it wait
// for room until ctx ends instead of refusing at once.
func (q *Inbox[T]) Put(ctx context.Context, person string, item T, wait bool) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		if q.closed {
			return false
		}
		if q.n < q.capacity && len(q.queues[person]) < q.perPerson {
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
	if len(q.queues[person]) == 0 {
		q.turns = append(q.turns, person)
	}
	q.queues[person] = append(q.queues[person], item)
	q.n++
	q.ready.Signal()
	return true
}

// Take returns the next command, waiting for one; ok is false once the
// inbox is closed and empty.
func (q *Inbox[T]) Take() (item T, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.n == 0 {
		if q.closed {
			return item, false
		}
		q.ready.Wait()
	}
	who := q.turns[0]
	q.turns = q.turns[1:]
	waiting := q.queues[who]
	item = waiting[0]
	if len(waiting) == 1 {
		delete(q.queues, who)
	} else {
		var zero T
		waiting[0] = zero // let the taken item go
		q.queues[who] = waiting[1:]
		q.turns = append(q.turns, who)
	}
	q.n--
	close(q.room)
	q.room = make(chan struct{})
	return item, true
}

// Close refuses further commands; those waiting are still taken.
func (q *Inbox[T]) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.closed = true
		q.ready.Broadcast()
		close(q.room)
		q.room = make(chan struct{})
	}
}

// Closed reports whether Close was called: a Put refused after it was
// refused for shutting down, not for want of room.
func (q *Inbox[T]) Closed() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closed
}
