package reports

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/aiuptime/aiuptime/redact"
)

// Output file names written by Write.
const (
	FileJUnit    = "junit.xml"
	FileJSON     = "report.json"
	FileMarkdown = "report.md"
	FileHTML     = "report.html"
	FileProm     = "drill.prom"
)

// Files lists every file Write produces, in the order it writes them.
var Files = []string{FileJSON, FileJUnit, FileMarkdown, FileHTML, FileProm}

// Redacted replaces every secret in every output.
const Redacted = redact.Mask

// ErrUnsafeTarget is returned when a file Write would replace is not a
// regular file (a symlink, a directory, a device, a FIFO): Write never
// writes through or over one.
var ErrUnsafeTarget = errors.New("refusing to replace a file that is not a regular file")

// Option configures Write.
type Option func(*options) error

type options struct {
	red     *redact.Redactor
	secrets []string
	raw     []byte
}

// WithSecrets names values (API keys, master keys) that must never appear in
// any output: every occurrence, raw or escaped, is replaced with
// "[REDACTED]". Values shorter than redact.MinSecretLen are ignored (the
// patterns still apply). With WithRedactor, they are added to its redactor.
func WithSecrets(keys ...string) Option {
	return func(o *options) error {
		o.secrets = append(o.secrets, keys...)
		return nil
	}
}

// WithRedactor masks the outputs with r (the run's one redactor, which
// knows its keys and secret environment values). Without it, and without
// WithSecrets, Write still masks what looks like a secret (URL passwords,
// ?key=, Bearer tokens, sk- keys).
func WithRedactor(r *redact.Redactor) Option {
	return func(o *options) error {
		if r == nil {
			return errors.New("nil redactor")
		}
		o.red = r
		return nil
	}
}

// WithOriginal gives Write the report.json the report was read from (a
// Document's Raw): fields this build does not know are kept in the
// re-rendered report.json, masked like the rest.
func WithOriginal(raw []byte) Option {
	return func(o *options) error { o.raw = raw; return nil }
}

// redactor is WithRedactor's redactor (or a new one) taught WithSecrets.
func (o *options) redactor() *redact.Redactor {
	if o.red == nil {
		o.red = redact.New()
	}
	o.red.Add(o.secrets...)
	return o.red
}

// Write renders r into dir as report.json, junit.xml, report.md,
// report.html and drill.prom, creating dir if needed. r is not modified.
//
// Every string is masked before rendering and every rendered file is
// masked again as a whole. Write writes only inside dir and replaces only
// the five files it renders, each through a temporary file renamed over it;
// when one of them exists and is not a regular file (CheckDir) it writes
// nothing and returns ErrUnsafeTarget.
func Write(dir string, r *Report, opts ...Option) error {
	if r == nil {
		return errors.New("write reports: nil report")
	}
	var o options
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return fmt.Errorf("write reports: %w", err)
		}
	}
	red := o.redactor()
	files, err := render(r, red, o.raw)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write reports: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("write reports: %w", err)
	}
	defer root.Close()
	if err := checkTargets(root); err != nil {
		return err
	}
	for _, name := range Files {
		if err := writeAtomic(root, name, files[name]); err != nil {
			return fmt.Errorf("write %s: %w", filepath.Join(dir, name), err)
		}
	}
	return nil
}

// render renders every file of r in memory, masked by red, report.json
// merged with raw's unknown fields when raw is set.
func render(r *Report, red *redact.Redactor, raw []byte) (map[string][]byte, error) {
	rr, err := redactedCopy(r, red)
	if err != nil {
		return nil, fmt.Errorf("write reports: %w", err)
	}
	renderers := map[string]func(*Report) ([]byte, error){
		FileJSON:     MarshalJSON,
		FileJUnit:    JUnit,
		FileMarkdown: Markdown,
		FileHTML:     HTML,
		FileProm:     Prom,
	}
	files := map[string][]byte{}
	for _, name := range Files {
		b, err := renderers[name](rr)
		if err != nil {
			return nil, fmt.Errorf("render %s: %w", name, err)
		}
		if name == FileJSON && len(raw) > 0 {
			if b, err = mergeUnknown(raw, b, red); err != nil {
				return nil, fmt.Errorf("render %s: keep unknown fields: %w", name, err)
			}
		}
		files[name] = red.Bytes(b)
	}
	return files, nil
}

// MarshalJSON renders r as indented report.json.
func MarshalJSON(r *Report) ([]byte, error) {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// CheckDir reports whether Write and WritePDF may write into dir: every
// file they would replace that exists is a regular file (not a symlink,
// directory, FIFO or device). A dir that does not exist yet passes. drill run calls it before
// anything starts, so that a drill never ends unable to write its evidence.
func CheckDir(dir string) error {
	root, err := os.OpenRoot(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reports dir: %w", err)
	}
	defer root.Close()
	return checkTargets(root)
}

// checkTargets checks every file Write or WritePDF may replace.
func checkTargets(root *os.Root) error {
	for _, name := range append(Files[:len(Files):len(Files)], FilePDF) {
		if err := checkRegular(root, name); err != nil {
			return err
		}
	}
	return nil
}

// checkRegular refuses to replace name inside root unless it is a regular
// file or absent.
func checkRegular(root *os.Root, name string) error {
	fi, err := root.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("write reports: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: %s is a %s", ErrUnsafeTarget, filepath.Join(root.Name(), name), fileKind(fi.Mode()))
	}
	return nil
}

func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "symlink"
	case m.IsDir():
		return "directory"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeDevice != 0:
		return "device"
	}
	return "special file"
}

// writeAtomic writes b to name inside root through a new temporary file
// renamed over it: a reader sees the old or the new file, never a part, and
// a symlink at name is replaced, never followed.
func writeAtomic(root *os.Root, name string, b []byte) error {
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	tmp := "." + name + "." + hex.EncodeToString(rnd[:]) + ".tmp"
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = root.Rename(tmp, name)
	}
	if err != nil {
		_ = root.Remove(tmp)
	}
	return err
}

// NamedFile is one file for WriteFiles.
type NamedFile struct {
	Name string
	Body []byte
}

// WriteFiles writes files into dir (created if missing) the way Write
// does: every target that exists must be a regular file (ErrUnsafeTarget
// before anything is written), and each file is replaced atomically
// through a temporary file in dir, never through a symlink.
func WriteFiles(dir string, files []NamedFile) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write into %s: %w", dir, err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("write into %s: %w", dir, err)
	}
	defer root.Close()
	for _, f := range files {
		if err := checkRegular(root, f.Name); err != nil {
			return err
		}
	}
	for _, f := range files {
		if err := writeAtomic(root, f.Name, f.Body); err != nil {
			return fmt.Errorf("write %s: %w", filepath.Join(dir, f.Name), err)
		}
	}
	return nil
}
