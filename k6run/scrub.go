package k6run

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/aiuptime/aiuptime/redact"
)

// scrubFile masks the secrets in the file at path line by line, writing a
// temporary file beside it that replaces it only when something changed.
func scrubFile(path string, red *redact.Redactor) error {
	in, err := os.Open(path)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("mask %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	changed, err := maskLines(bufio.NewReaderSize(in, 1<<20), tmp, red)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil || !changed {
		return err
	}
	if fi, err := in.Stat(); err == nil {
		_ = os.Chmod(tmp.Name(), fi.Mode().Perm())
	}
	return os.Rename(tmp.Name(), path)
}

// maskLines copies r to w masked, line by line, and reports whether any
// line changed.
func maskLines(r *bufio.Reader, w io.Writer, red *redact.Redactor) (bool, error) {
	changed := false
	bw := bufio.NewWriter(w)
	for {
		line, err := r.ReadSlice('\n')
		if len(line) > 0 {
			m := red.Bytes(line)
			changed = changed || len(m) != len(line) || &m[0] != &line[0]
			if _, werr := bw.Write(m); werr != nil {
				return changed, werr
			}
		}
		switch {
		case err == io.EOF:
			return changed, bw.Flush()
		case err != nil && err != bufio.ErrBufferFull:
			return changed, err
		}
	}
}

// lockedWriter serialises writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
