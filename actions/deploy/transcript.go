package deploy

import "fmt"

// Transcript is the bounded output of one command on one host: its first
// Head lines and its last Tail lines, and how many lines between them were
// cut. However much a command prints, a Transcript holds at most
// Head+Tail lines (each bounded by the executor's line length).
type Transcript struct {
	Head, Tail int

	head  []string
	tail  []string // a ring of at most Tail lines
	next  int      // where the ring's next line goes
	total int
}

// Default bounds of a Transcript.
const (
	DefaultHead = 100
	DefaultTail = 400
)

// NewTranscript returns an empty transcript with the default bounds.
func NewTranscript() *Transcript { return &Transcript{Head: DefaultHead, Tail: DefaultTail} }

// Add appends a line.
func (t *Transcript) Add(line string) {
	t.total++
	if len(t.head) < t.Head {
		t.head = append(t.head, line)
		return
	}
	if t.Tail <= 0 {
		return
	}
	if len(t.tail) < t.Tail {
		t.tail = append(t.tail, line)
		return
	}
	t.tail[t.next] = line
	t.next = (t.next + 1) % t.Tail
}

// Total returns how many lines were added.
func (t *Transcript) Total() int { return t.total }

// Cut returns how many lines were added but not kept.
func (t *Transcript) Cut() int { return t.total - len(t.head) - len(t.tail) }

// Lines returns the lines kept, oldest first, with one line saying how
// many were cut between the head and the tail when some were.
func (t *Transcript) Lines() []string {
	out := make([]string, 0, len(t.head)+len(t.tail)+1)
	out = append(out, t.head...)
	if n := t.Cut(); n > 0 {
		out = append(out, fmt.Sprintf("… %d lines cut (kept the first %d and the last %d) …", n, len(t.head), len(t.tail)))
	}
	return append(out, t.ringOrder()...)
}

// Last returns the last n lines added (fewer when fewer are kept).
func (t *Transcript) Last(n int) []string {
	tail := t.ringOrder()
	if len(tail) >= n {
		return tail[len(tail)-n:]
	}
	need := n - len(tail)
	head := t.head
	if t.Cut() > 0 {
		// The head is not followed by the tail: do not join them.
		return tail
	}
	if need > len(head) {
		need = len(head)
	}
	return append(append([]string(nil), head[len(head)-need:]...), tail...)
}

func (t *Transcript) ringOrder() []string {
	if len(t.tail) < t.Tail {
		return append([]string(nil), t.tail...)
	}
	out := make([]string, 0, len(t.tail))
	out = append(out, t.tail[t.next:]...)
	return append(out, t.tail[:t.next]...)
}
