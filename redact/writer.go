package redact

import (
	"bytes"
	"io"
	"sync"
)

// writer masks each Write on its own.
type writer struct {
	w io.Writer
	r *Redactor
}

// Writer returns a writer that masks secrets in each Write before passing
// it to w. Each Write is masked on its own, which suits writers fed whole
// messages (fmt.Fprintf, an encoder, a log handler); use LineWriter for
// streams cut at arbitrary places (a child process's output). Wrapping a
// writer r already wraps returns it unchanged.
func (r *Redactor) Writer(w io.Writer) io.Writer {
	if ww, ok := w.(*writer); ok && ww.r == r {
		return w
	}
	return &writer{w: w, r: r}
}

// Write implements io.Writer; it reports len(p) when the masked text was
// written whole.
func (w *writer) Write(p []byte) (int, error) {
	if _, err := w.w.Write(w.r.Bytes(p)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// DefaultMaxLine is how much of a line a LineWriter holds back before it
// masks and writes it anyway.
const DefaultMaxLine = 64 << 10

// LineWriter masks a stream line by line, so that a secret cut in two by
// the writes that carry it is still masked. Close (or Flush) writes what is
// left of the last line. It is safe for concurrent use.
type LineWriter struct {
	mu  sync.Mutex
	w   io.Writer
	r   *Redactor
	buf []byte
}

// LineWriter returns a LineWriter that writes masked lines to w.
func (r *Redactor) LineWriter(w io.Writer) *LineWriter { return &LineWriter{w: w, r: r} }

// Write implements io.Writer: it writes every complete line of what it
// holds and keeps the rest (up to DefaultMaxLine bytes) for the next Write.
func (l *LineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	n := bytes.LastIndexByte(l.buf, '\n') + 1
	if n == 0 && len(l.buf) >= DefaultMaxLine {
		n = len(l.buf)
	}
	if n == 0 {
		return len(p), nil
	}
	_, err := l.w.Write(l.r.Bytes(l.buf[:n]))
	rest := copy(l.buf, l.buf[n:])
	l.buf = l.buf[:rest]
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush masks and writes what is held of an unfinished line.
func (l *LineWriter) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) == 0 {
		return nil
	}
	_, err := l.w.Write(l.r.Bytes(l.buf))
	l.buf = l.buf[:0]
	return err
}

// Close implements io.Closer: it flushes (w is not closed).
func (l *LineWriter) Close() error { return l.Flush() }
