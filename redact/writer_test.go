package redact

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"
)

func TestWriter(t *testing.T) {
	var buf bytes.Buffer
	r := New("writer-secret-1")
	w := r.Writer(&buf)
	if r.Writer(w) != w {
		t.Error("Writer wrapped twice")
	}
	p := []byte("a writer-secret-1 b token=x\n")
	n, err := w.Write(p)
	if err != nil || n != len(p) {
		t.Errorf("Write = %d, %v; want %d, nil", n, err, len(p))
	}
	if got := buf.String(); got != "a [REDACTED] b token=[REDACTED]\n" {
		t.Errorf("got %q", got)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriterReportsErrors(t *testing.T) {
	if _, err := New().Writer(failWriter{}).Write([]byte("x")); err == nil {
		t.Error("error swallowed")
	}
	lw := New().LineWriter(failWriter{})
	if _, err := lw.Write([]byte("x\n")); err == nil {
		t.Error("LineWriter swallowed an error")
	}
}

// TestLineWriterJoinsSplitSecrets feeds a stream one byte at a time: the
// secret, a Bearer token and a URL password are each cut in many writes.
func TestLineWriterJoinsSplitSecrets(t *testing.T) {
	const secret = "stream-secret-42"
	in := "line one " + secret + "\nAuthorization: Bearer tok-1234\nhttps://u:pw@h/ no newline at the end " + secret
	var buf bytes.Buffer
	lw := New(secret).LineWriter(&buf)
	for i := range len(in) {
		if _, err := lw.Write([]byte{in[i]}); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Contains(buf.String(), "no newline") {
		t.Error("an unfinished line was written before Close")
	}
	if err := lw.Close(); err != nil {
		t.Fatal(err)
	}
	want := "line one [REDACTED]\nAuthorization: Bearer [REDACTED]\nhttps://u:[REDACTED]@h/ no newline at the end [REDACTED]"
	if buf.String() != want {
		t.Errorf("got  %q\nwant %q", buf.String(), want)
	}
}

func TestLineWriterLongLine(t *testing.T) {
	var buf bytes.Buffer
	lw := New().LineWriter(&buf)
	long := strings.Repeat("x", DefaultMaxLine+10)
	if _, err := lw.Write([]byte(long)); err != nil {
		t.Fatal(err)
	}
	if buf.Len() != len(long) {
		t.Errorf("a line over DefaultMaxLine was held back: wrote %d of %d", buf.Len(), len(long))
	}
}

func TestLineWriterConcurrent(t *testing.T) {
	var buf bytes.Buffer
	lw := New("concurrent-secret").LineWriter(&buf)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				_, _ = lw.Write([]byte("concurrent-secret\n"))
			}
		})
	}
	wg.Wait()
	_ = lw.Close()
	if strings.Contains(buf.String(), "concurrent-secret") || strings.Count(buf.String(), Mask) != 800 {
		t.Errorf("lost or leaked lines: %d masks", strings.Count(buf.String(), Mask))
	}
}
