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
// Its buffer holds at most max bytes between writes, or twice that when
// it redacts (see cutLong).
type lineWriter struct {
	sink   *lineSink
	max    int
	redact func(string) string // nil: none
	buf    []byte
}

func newLineWriter(sink *lineSink, max int, redact func(string) string) *lineWriter {
	if max <= 0 {
		max = DefaultMaxLine
	}
	return &lineWriter{sink: sink, max: max, redact: redact}
}

// Write never fails: output the caller cannot use is still consumed, so
// the remote command is never blocked on a full channel window.
func (w *lineWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := indexNewline(p)
		if i < 0 {
			w.buf = append(w.buf, p...)
			w.cutLong()
			return n, nil
		}
		w.buf = append(w.buf, p[:i]...)
		p = p[i+1:]
		w.flushLine()
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

// cutLong hands over the start of a line that outgrew the buffer, in
// pieces of at most max bytes. A secret is redacted before the line is
// cut, or a cut inside it would leave two halves that no redactor
// recognises: so the buffer is redacted whole, and only what has at
// least max bytes of the line after it is handed over. A secret of up to
// max bytes that starts in a piece handed over therefore ends inside the
// buffer, and is gone.
func (w *lineWriter) cutLong() {
	ahead := 0
	if w.redact != nil {
		ahead = w.max
	}
	if len(w.buf) <= w.max+ahead {
		return
	}
	w.redactBuf()
	for len(w.buf) > w.max+ahead {
		w.emitPiece()
	}
}

func (w *lineWriter) flushLine() {
	if len(w.buf) > w.max {
		w.redactBuf()
		for len(w.buf) > w.max {
			w.emitPiece()
		}
	}
	line := clean(w.buf)
	if w.redact != nil {
		line = w.redact(line)
	}
	w.sink.emit(line)
	w.buf = w.buf[:0]
}

func (w *lineWriter) redactBuf() {
	if w.redact == nil {
		return
	}
	if s := w.redact(string(w.buf)); s != string(w.buf) {
		w.buf = append(w.buf[:0], s...)
	}
}

// emitPiece hands over the first max bytes of the buffer, or fewer so as
// not to cut a character in two.
func (w *lineWriter) emitPiece() {
	cut := runeBoundary(w.buf, w.max)
	w.sink.emit(clean(w.buf[:cut]))
	w.buf = append(w.buf[:0], w.buf[cut:]...)
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
