// Package redacttest finds planted canary secrets in files and text: the
// check behind every test that proves no output of a run carries a secret
// (unit tests, and the Ginkgo safety suite on a whole run directory).
//
//	leaks, err := redacttest.ScanFiles([]string{outDir, stateDir}, canaries...)
//	leaks = append(leaks, redacttest.ScanText("stderr", stderr.String(), canaries...)...)
//	if len(leaks) > 0 { t.Errorf("secrets leaked:\n%s", redacttest.Report(leaks)) }
package redacttest

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/aiuptime/aiuptime/redact"
)

// Leak is one line that holds a canary.
type Leak struct {
	// Path is the file (or the name given to ScanText).
	Path string
	// Line is the 1-based line number.
	Line int
	// Canary is the secret found; Form is how it was written (raw, or
	// escaped for JSON, HTML, XML or a URL).
	Canary, Form string
}

// String is "path:line: canary (as form)".
func (l Leak) String() string {
	if l.Form == l.Canary {
		return fmt.Sprintf("%s:%d: %q", l.Path, l.Line, l.Canary)
	}
	return fmt.Sprintf("%s:%d: %q (as %q)", l.Path, l.Line, l.Canary, l.Form)
}

// Report lists leaks one per line.
func Report(leaks []Leak) string {
	var b strings.Builder
	for _, l := range leaks {
		b.WriteString(l.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// ScanText returns the lines of text (named name in the leaks) that hold a
// canary in any of its forms (redact.Forms).
func ScanText(name, text string, canaries ...string) []Leak {
	return scan(name, []byte(text), canaries)
}

// ScanFiles reads every regular file beneath each root (a file or a
// directory; symlinks are not followed, unreadable files are errors) and
// returns the lines that hold a canary.
func ScanFiles(roots []string, canaries ...string) ([]Leak, error) {
	var leaks []Leak
	for _, root := range roots {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.Type().IsRegular() {
				return nil
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			leaks = append(leaks, scan(p, b, canaries)...)
			return nil
		})
		if err != nil {
			return leaks, fmt.Errorf("scan %s: %w", root, err)
		}
	}
	return leaks, nil
}

// Files lists every regular file beneath each root: what a run wrote, for
// a test to show which files it checked.
func Files(roots ...string) ([]string, error) {
	var out []string
	for _, root := range roots {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				out = append(out, p)
			}
			return err
		})
		if err != nil {
			return out, fmt.Errorf("list %s: %w", root, err)
		}
	}
	return out, nil
}

func scan(name string, b []byte, canaries []string) []Leak {
	var leaks []Leak
	for _, c := range canaries {
		if c == "" {
			continue
		}
		for _, form := range redact.Forms(c) {
			if !bytes.Contains(b, []byte(form)) {
				continue
			}
			sc := bufio.NewScanner(bytes.NewReader(b))
			sc.Buffer(nil, len(b)+1)
			for line := 1; sc.Scan(); line++ {
				if bytes.Contains(sc.Bytes(), []byte(form)) {
					leaks = append(leaks, Leak{Path: name, Line: line, Canary: c, Form: form})
				}
			}
		}
	}
	return leaks
}
