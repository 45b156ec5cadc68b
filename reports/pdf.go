package reports

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// FilePDF is report.pdf: report.html printed on A4 by headless Chromium,
// for customers who file or forward the report.
const FilePDF = "report.pdf"

// PDFNotePrefix starts the capability note a report carries when its
// report.pdf could not be written (SetPDFNote).
const PDFNotePrefix = "report.pdf not written: "

// DefaultPDFTimeout bounds one rendering, Chromium's start included.
const DefaultPDFTimeout = 90 * time.Second

// ErrNoChromium is returned when no Chromium is installed to print
// report.pdf with (Debian package chromium; `make deps` installs it).
var ErrNoChromium = errors.New("chromium not found (Debian package chromium; `make deps` installs it)")

// chromiumNames are the executables FindChromium looks for on PATH.
var chromiumNames = []string{"chromium", "chromium-browser", "google-chrome", "headless_shell"}

// FindChromium returns the path of the Chromium to print with: the one
// $AIUPTIME_CHROMIUM names, else the first of chromium, chromium-browser,
// google-chrome or headless_shell on PATH; ErrNoChromium when there is none.
func FindChromium() (string, error) {
	if p := os.Getenv("AIUPTIME_CHROMIUM"); p != "" {
		path, err := exec.LookPath(p)
		if err != nil {
			return "", fmt.Errorf("%w: AIUPTIME_CHROMIUM=%s: %v", ErrNoChromium, p, err)
		}
		return path, nil
	}
	for _, n := range chromiumNames {
		if p, err := exec.LookPath(n); err == nil {
			return p, nil
		}
	}
	return "", ErrNoChromium
}

// PDFOption configures WritePDF.
type PDFOption func(*pdfOptions) error

type pdfOptions struct {
	bin     string
	timeout time.Duration
}

// WithChromium prints with the Chromium at path instead of FindChromium's.
func WithChromium(path string) PDFOption {
	return func(o *pdfOptions) error {
		if path == "" {
			return errors.New("empty chromium path")
		}
		o.bin = path
		return nil
	}
}

// WithPDFTimeout bounds the rendering (DefaultPDFTimeout by default).
func WithPDFTimeout(d time.Duration) PDFOption {
	return func(o *pdfOptions) error {
		if d <= 0 {
			return fmt.Errorf("pdf timeout %v must be positive", d)
		}
		o.timeout = d
		return nil
	}
}

// WritePDF prints dir/report.html (as Write rendered it) to dir/report.pdf
// with headless Chromium.
//
// Chromium reads a copy of the page from a private temporary directory
// over file:// with scripts' network cut off: every connection, loopback
// included, goes to a proxy that does not exist and every host name
// resolves to nothing. It runs in a process group of its own with its
// profile, HOME and caches in that directory; when it ends (or ctx or the
// timeout ends it) the whole group is killed and the directory removed, so
// nothing is left behind. The PDF replaces report.pdf through a temporary
// file renamed over it; a report.pdf that is not a regular file is refused
// (ErrUnsafeTarget). When no PDF can be printed, an earlier report.pdf is
// removed, so that none stands beside report.html that does not match it.
func WritePDF(ctx context.Context, dir string, opts ...PDFOption) error {
	o := pdfOptions{timeout: DefaultPDFTimeout}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return fmt.Errorf("write %s: %w", FilePDF, err)
		}
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("write %s: %w", FilePDF, err)
	}
	defer root.Close()
	if err := checkRegular(root, FilePDF); err != nil {
		return err
	}
	if o.bin == "" {
		if o.bin, err = FindChromium(); err != nil {
			return removeStale(root, fmt.Errorf("write %s: %w", FilePDF, err))
		}
	}
	page, err := root.ReadFile(FileHTML)
	if err != nil {
		return removeStale(root, fmt.Errorf("write %s: read the page: %w", FilePDF, err))
	}
	pdf, err := printPDF(ctx, o, page)
	if err != nil {
		return removeStale(root, fmt.Errorf("write %s: %w", filepath.Join(dir, FilePDF), err))
	}
	if err := writeAtomic(root, FilePDF, pdf); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Join(dir, FilePDF), err)
	}
	return nil
}

// printPDF prints page in a private directory it removes afterwards.
func printPDF(ctx context.Context, o pdfOptions, page []byte) ([]byte, error) {
	work, err := os.MkdirTemp("", "aiuptime-pdf-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	tmp, err := os.MkdirTemp(shortTempRoot(), "aiup-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	in, out := filepath.Join(work, FileHTML), filepath.Join(work, FilePDF)
	if err := os.WriteFile(in, page, 0o600); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, o.bin, chromiumArgs(work, in, out)...)
	cmd.Dir = work
	cmd.Env = chromiumEnv(work, tmp)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return killGroup(cmd) }
	cmd.WaitDelay = 5 * time.Second
	runErr := cmd.Run()
	_ = killGroup(cmd) // helpers the browser left running
	if ctx.Err() != nil {
		return nil, fmt.Errorf("chromium did not finish within %v: %w", o.timeout, context.Cause(ctx))
	}
	if runErr != nil {
		return nil, fmt.Errorf("chromium: %w: %s", runErr, lastLines(stderr.String(), 3))
	}
	b, err := os.ReadFile(out)
	if err != nil || !bytes.HasPrefix(b, []byte("%PDF-")) {
		return nil, fmt.Errorf("chromium wrote no PDF (%v): %s", err, lastLines(stderr.String(), 3))
	}
	return b, nil
}

// chromiumArgs prints in (a file) to out with no network and no state
// outside work.
func chromiumArgs(work, in, out string) []string {
	args := []string{
		"--headless", "--disable-gpu", "--hide-scrollbars", "--mute-audio",
		"--user-data-dir=" + filepath.Join(work, "profile"),
		"--no-first-run", "--no-default-browser-check", "--disable-extensions", "--disable-sync",
		"--disable-default-apps", "--disable-component-update", "--disable-background-networking",
		"--disable-domain-reliability", "--disable-breakpad", "--disable-crash-reporter",
		// No network: every connection (loopback too) goes to a proxy
		// that is not there, every name resolves to nothing.
		"--proxy-server=socks5://127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
		"--host-resolver-rules=MAP * ~NOTFOUND",
		"--no-pdf-header-footer", "--print-to-pdf=" + out,
	}
	if os.Geteuid() == 0 {
		args = append(args, "--no-sandbox") // Chromium refuses to run as root with its sandbox
	}
	return append(args, (&url.URL{Scheme: "file", Path: in}).String())
}

// chromiumEnv is the environment with HOME and the XDG directories inside
// work, so that Chromium's caches and crash settings go where they are
// removed, and TMPDIR at tmp, where it puts its temporary files and the
// socket of its process singleton (org.chromium.Chromium.*).
func chromiumEnv(work, tmp string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "HOME", "TMPDIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_RUNTIME_DIR":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "HOME="+work, "TMPDIR="+tmp, "XDG_CONFIG_HOME="+filepath.Join(work, "config"),
		"XDG_CACHE_HOME="+filepath.Join(work, "cache"), "XDG_DATA_HOME="+filepath.Join(work, "data"))
}

// killGroup kills the process group cmd leads ("already gone" is fine).
func killGroup(cmd *exec.Cmd) error {
	if cmd.Process == nil {
		return nil
	}
	err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

// lastLines is the last n non-empty lines of s, joined with " | ".
func lastLines(s string, n int) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines[max(0, len(lines)-n):], " | ")
}

// removeStale removes an earlier report.pdf (checked regular by the
// caller) and returns why the new one was not written.
func removeStale(root *os.Root, why error) error {
	if err := root.Remove(FilePDF); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return errors.Join(why, fmt.Errorf("remove the earlier %s: %w", FilePDF, err))
	}
	return why
}

// SetPDFNote records in r's capability notes why report.pdf was not
// written (PDFNotePrefix and err), replacing such a note from an earlier
// rendering; with err nil it only removes that note.
func SetPDFNote(r *Report, err error) {
	notes := r.Capabilities.Notes[:0:0]
	for _, n := range r.Capabilities.Notes {
		if !strings.HasPrefix(n, PDFNotePrefix) {
			notes = append(notes, n)
		}
	}
	if err != nil {
		notes = append(notes, PDFNotePrefix+err.Error())
	}
	r.Capabilities.Notes = notes
}

// maxTempRoot is the longest temporary root Chromium's TMPDIR is put
// under: its singleton socket, ROOT/aiup-NNNNNNNNNN/org.chromium.Chromium.
// XXXXXX/SingletonSocket, must fit a Unix socket path's 108 bytes, or
// Chromium aborts at start (the rest takes 62 of them).
const maxTempRoot = 40

// shortTempRoot is os.TempDir when it is short enough for Chromium's
// socket, else /tmp.
func shortTempRoot() string {
	if d := os.TempDir(); len(d) <= maxTempRoot {
		return d
	}
	return "/tmp"
}
