package reports

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// needPoppler skips without pdfinfo and pdftotext (Debian poppler-utils,
// which `make deps` installs): they read the PDF independently of Chromium.
func needPoppler(t *testing.T) {
	t.Helper()
	for _, b := range []string{"pdfinfo", "pdftotext"} {
		if _, err := exec.LookPath(b); err != nil {
			t.Skipf("%s not installed (Debian package poppler-utils; `make deps` installs it): report.pdf not read", b)
		}
	}
}

// pdfPages returns the page count and the first page's size in points.
func pdfPages(t *testing.T, pdf string) (pages int, size string) {
	t.Helper()
	out, err := exec.Command("pdfinfo", pdf).Output()
	if err != nil {
		t.Fatalf("pdfinfo %s: %v", pdf, err)
	}
	m := regexp.MustCompile(`(?m)^Pages:\s+(\d+)$`).FindSubmatch(out)
	s := regexp.MustCompile(`(?m)^Page size:\s+(.*)$`).FindSubmatch(out)
	if m == nil || s == nil {
		t.Fatalf("pdfinfo says no pages or size:\n%s", out)
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n, string(s[1])
}

// pdfText is the PDF's text laid out as on the page.
func pdfText(t *testing.T, pdf string) string {
	t.Helper()
	out, err := exec.Command("pdftotext", "-layout", pdf, "-").Output()
	if err != nil {
		t.Fatalf("pdftotext %s: %v", pdf, err)
	}
	return string(out)
}

// processesMentioning lists the processes whose command line holds s.
func processesMentioning(t *testing.T, s string) []string {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(b), s) {
			found = append(found, e.Name()+": "+strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	return found
}

// isolatedTemp points TMPDIR at a fresh directory and returns it: what
// WritePDF leaves behind shows there and in processes naming it.
func isolatedTemp(t *testing.T) string {
	t.Helper()
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	return tmp
}

// checkNothingLeft fails when a process or a file of the rendering is left.
func checkNothingLeft(t *testing.T, tmp string) {
	t.Helper()
	if ps := processesMentioning(t, tmp); len(ps) > 0 {
		t.Errorf("processes left running:\n%s", strings.Join(ps, "\n"))
	}
	if ents, _ := os.ReadDir(tmp); len(ents) > 0 {
		t.Errorf("%d entries left in the temporary directory (first %s)", len(ents), ents[0].Name())
	}
}

// TestWritePDF prints the sample and a real quarterly-dr report and reads
// the PDFs with poppler: 1 to 3 A4 pages holding the verdict and the SLO
// table; no process or file of the rendering is left.
func TestWritePDF(t *testing.T) {
	bin := findChromium(t)
	needPoppler(t)
	real, err := Load(filepath.Join("testdata", "quarterly-dr.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		r    *Report
		want []*regexp.Regexp
	}{
		{"sample", sampleReport(""), []*regexp.Regexp{
			regexp.MustCompile(`VERDICT[^\n]*\n\s*FAIL\b`),
			regexp.MustCompile(`availability\s+>= 99\.000%\s+97\.120%\s+NO`),
			regexp.MustCompile(`latency_p95\s+<= 2\.000 s\s+2\.400 s\s+NO`),
			regexp.MustCompile(`recovery_time\s+<= 15\.000 s\s+3\.500 s\s+yes`),
		}},
		{"quarterly-dr", real, []*regexp.Regexp{
			regexp.MustCompile(`VERDICT[^\n]*\n\s*PASS\b`),
			regexp.MustCompile(`availability\s+>= 99\.500%\s+100\.000%\s+yes`),
			regexp.MustCompile(`latency_p95\s+<= 2\.000 s\s+120\.3 ms\s+yes`),
			regexp.MustCompile(`recovery_time\s+<= 20\.000 s\s+no outages\s+yes`),
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			tmp := isolatedTemp(t)
			dir := t.TempDir()
			if err := Write(dir, c.r); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if err := WritePDF(ctx, dir, WithChromium(bin)); err != nil {
				t.Fatal(err)
			}
			pdf := filepath.Join(dir, FilePDF)
			pages, size := pdfPages(t, pdf)
			if pages < 1 || pages > 3 {
				t.Errorf("%d pages, want 1 to 3", pages)
			}
			if !strings.Contains(size, "(A4)") {
				t.Errorf("page size %s, want A4", size)
			}
			text := pdfText(t, pdf)
			for _, re := range append(c.want, regexp.MustCompile(`SLO\s+Target\s+Actual\s+Met`), regexp.MustCompile(`What to fix`)) {
				if !re.MatchString(text) {
					t.Errorf("report.pdf text lacks %s; it begins:\n%s", re, text[:min(len(text), 700)])
				}
			}
			t.Logf("%s: %d pages (%s)", c.name, pages, size)
			if keep := os.Getenv("AIUPTIME_KEEP_PDF"); keep != "" { // to look at it
				if b, err := os.ReadFile(pdf); err == nil {
					_ = os.WriteFile(filepath.Join(keep, c.name+".pdf"), b, 0o644)
				}
			}
			checkNothingLeft(t, tmp)
		})
	}
}

// TestWritePDFUsesNoNetwork prints a page that asks for an image and a
// style sheet from a server on this host: printed by WritePDF the server
// sees no request. The same page printed by a plain Chromium does reach
// it, so the check can fail.
func TestWritePDFUsesNoNetwork(t *testing.T) {
	bin := findChromium(t)
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	page := `<!DOCTYPE html><html><head><link rel="stylesheet" href="` + srv.URL + `/s.css"></head>` +
		`<body><p>offline</p><img src="` + srv.URL + `/i.png"><img src="http://localhost:` + srv.URL[strings.LastIndex(srv.URL, ":")+1:] + `/j.png"></body></html>`
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, FileHTML), []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := WritePDF(ctx, dir, WithChromium(bin)); err != nil {
		t.Fatal(err)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the server saw %d requests while WritePDF printed", n)
	}
	// Control: without the network flags Chromium fetches them.
	args := append([]string{}, chromiumFlags...)
	args[len(args)-1] += t.TempDir()
	args = append(args, "--print-to-pdf="+filepath.Join(t.TempDir(), "c.pdf"), "file://"+filepath.Join(dir, FileHTML))
	if out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput(); err != nil {
		t.Fatalf("control print: %v\n%s", err, out)
	}
	if hits.Load() == 0 {
		t.Error("a plain Chromium fetched nothing either: the check cannot tell")
	}
}

// TestWritePDFTimeout: a rendering cut off by its timeout is an error,
// writes no report.pdf, removes an earlier one and leaves nothing running.
func TestWritePDFTimeout(t *testing.T) {
	bin := findChromium(t)
	tmp := isolatedTemp(t)
	dir := t.TempDir()
	if err := Write(dir, sampleReport("")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, FilePDF), []byte("%PDF-stale"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := WritePDF(context.Background(), dir, WithChromium(bin), WithPDFTimeout(100*time.Millisecond))
	if err == nil || !strings.Contains(err.Error(), "did not finish within 100ms") {
		t.Fatalf("WritePDF = %v, want a timeout", err)
	}
	if _, err := os.Stat(filepath.Join(dir, FilePDF)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a stale report.pdf stays beside the new reports (%v)", err)
	}
	checkNothingLeft(t, tmp)
}

func TestWritePDFRefusals(t *testing.T) {
	dir := t.TempDir()
	if err := Write(dir, sampleReport("")); err != nil {
		t.Fatal(err)
	}
	t.Run("no chromium", func(t *testing.T) {
		t.Setenv("AIUPTIME_CHROMIUM", filepath.Join(t.TempDir(), "no-such-chromium"))
		if _, err := FindChromium(); !errors.Is(err, ErrNoChromium) {
			t.Errorf("FindChromium = %v, want ErrNoChromium", err)
		}
		if err := os.WriteFile(filepath.Join(dir, FilePDF), []byte("%PDF-stale"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := WritePDF(context.Background(), dir); !errors.Is(err, ErrNoChromium) {
			t.Errorf("WritePDF = %v, want ErrNoChromium", err)
		}
		if _, err := os.Stat(filepath.Join(dir, FilePDF)); !errors.Is(err, os.ErrNotExist) {
			t.Error("a stale report.pdf stays beside the new reports")
		}
	})
	t.Run("symlink target", func(t *testing.T) {
		outside := filepath.Join(t.TempDir(), "victim")
		if err := os.WriteFile(outside, []byte("keep"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(outside, filepath.Join(dir, FilePDF)); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(filepath.Join(dir, FilePDF))
		if err := WritePDF(context.Background(), dir, WithChromium("/bin/false")); !errors.Is(err, ErrUnsafeTarget) {
			t.Errorf("WritePDF = %v, want ErrUnsafeTarget", err)
		}
		if err := CheckDir(dir); !errors.Is(err, ErrUnsafeTarget) {
			t.Errorf("CheckDir = %v, want ErrUnsafeTarget for a report.pdf symlink", err)
		}
		if b, _ := os.ReadFile(outside); string(b) != "keep" {
			t.Error("the link's target was changed")
		}
	})
}

func TestSetPDFNote(t *testing.T) {
	r := &Report{Capabilities: Capabilities{Notes: []string{"kernel lacks netem"}}}
	SetPDFNote(r, ErrNoChromium)
	SetPDFNote(r, errors.New("chromium did not finish within 90s"))
	want := []string{"kernel lacks netem", PDFNotePrefix + "chromium did not finish within 90s"}
	if strings.Join(r.Capabilities.Notes, "|") != strings.Join(want, "|") {
		t.Errorf("notes %q, want %q", r.Capabilities.Notes, want)
	}
	SetPDFNote(r, nil)
	if len(r.Capabilities.Notes) != 1 {
		t.Errorf("notes %q after a PDF was written", r.Capabilities.Notes)
	}
}

// TestWritePDFLongTempDir: Chromium aborts when the path of its singleton
// socket under TMPDIR is longer than a Unix socket allows; a long TMPDIR
// must not stop the PDF, and nothing is left in it.
func TestWritePDFLongTempDir(t *testing.T) {
	bin := findChromium(t)
	tmp := filepath.Join(isolatedTemp(t), strings.Repeat("long-temporary-directory-", 3))
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", tmp)
	dir := t.TempDir()
	if err := Write(dir, sampleReport("")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := WritePDF(ctx, dir, WithChromium(bin)); err != nil {
		t.Fatalf("WritePDF with TMPDIR %s (%d bytes): %v", tmp, len(tmp), err)
	}
	checkNothingLeft(t, tmp)
}
