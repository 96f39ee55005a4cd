package ssh

import (
	"strings"
	"sync"
	"unicode/utf8"
)

// DefaultMaxLine is the longest line handed to the caller in one piece; a
// longer line (a progress bar redrawn with \r, a minified file cat'ed by
// mistake) is handed over in pieces of at most this many bytes, so that one
// runaway line cannot grow memory without bound.
const DefaultMaxLine = 4096

// lineSink serialises the lines of a command's stdout and stderr into one
// callback: each call carries one whole line, so the two streams interleave
// only between lines, never inside one.
type lineSink struct {
	mu  sync.Mutex
	out func(line string)
}

func (s *lineSink) emit(line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.out(line)
}

// lineWriter is an io.Writer that cuts one stream into lines for a sink.
// Its buffer holds at most max bytes between writes.
type lineWriter struct {
	sink *lineSink
	max  int
	buf  []byte
}

func newLineWriter(sink *lineSink, max int) *lineWriter {
	if max <= 0 {
		max = DefaultMaxLine
	}
	return &lineWriter{sink: sink, max: max}
}

// Write never fails: output the caller cannot use is still consumed, so
// the remote command is never blocked on a full channel window.
func (w *lineWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := indexNewline(p)
		if i < 0 {
			w.buf = append(w.buf, p...)
			p = nil
		} else {
			w.buf = append(w.buf, p[:i]...)
			p = p[i+1:]
			w.flushLine()
			continue
		}
		for len(w.buf) > w.max {
			cut := runeBoundary(w.buf, w.max)
			w.sink.emit(clean(w.buf[:cut]))
			w.buf = append(w.buf[:0], w.buf[cut:]...)
		}
	}
	return n, nil
}

// Close hands over a last line that had no newline.
func (w *lineWriter) Close() error {
	if len(w.buf) > 0 {
		w.flushLine()
	}
	return nil
}

func (w *lineWriter) flushLine() {
	for len(w.buf) > w.max {
		cut := runeBoundary(w.buf, w.max)
		w.sink.emit(clean(w.buf[:cut]))
		w.buf = append(w.buf[:0], w.buf[cut:]...)
	}
	w.sink.emit(clean(w.buf))
	w.buf = w.buf[:0]
}

func indexNewline(p []byte) int {
	for i, b := range p {
		if b == '\n' {
			return i
		}
	}
	return -1
}

// runeBoundary returns the largest cut ≤ max that does not split a UTF-8
// sequence (or max itself when the text is not UTF-8 there).
func runeBoundary(b []byte, max int) int {
	for cut := max; cut > max-utf8.UTFMax && cut > 0; cut-- {
		if utf8.RuneStart(b[cut]) {
			return cut
		}
	}
	return max
}

// clean drops a carriage return before the newline and replaces bytes that
// are not UTF-8, so that lines are safe to store and to post in chat.
func clean(b []byte) string {
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}
