package reports

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// chromiumFlags are the flags the issue asks for, plus logging to stderr so
// that console messages can be checked.
var chromiumFlags = []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
	"--enable-logging=stderr", "--v=0", "--user-data-dir="}

func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless_shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("chromium not installed (Debian package chromium; `make deps` installs it): report.html not rendered in a browser")
	return ""
}

// consoleLine matches Chromium's log lines for page console messages and
// failed resource loads.
var consoleLine = regexp.MustCompile(`(?i)CONSOLE\(|Uncaught|Failed to load resource|net::ERR_`)

func TestHTMLInChromium(t *testing.T) {
	bin := findChromium(t)
	dir, _ := writeSample(t)
	page := filepath.Join(dir, FileHTML)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	profile := t.TempDir()
	args := append([]string{}, chromiumFlags...)
	args[len(args)-1] += profile
	args = append(args, "--dump-dom", "file://"+page)
	cmd := exec.CommandContext(ctx, bin, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	dom, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v\n%s", err, stderr.String())
	}
	for _, line := range strings.Split(stderr.String(), "\n") {
		if consoleLine.MatchString(line) {
			t.Errorf("console error rendering report.html: %s", line)
		}
	}
	d := string(dom)
	for _, want := range []string{`<svg id="timeline"`, `class="latency"`, `class="success"`, `class="fault"`, "Drill report: gpu-failover"} {
		if !strings.Contains(d, want) {
			t.Errorf("rendered DOM lacks %s", want)
		}
	}
	if os.Getenv("AIUPTIME_SCREENSHOT") != "" {
		shot := os.Getenv("AIUPTIME_SCREENSHOT")
		args := append([]string{}, chromiumFlags[:4]...)
		args = append(args, "--user-data-dir="+t.TempDir(), "--hide-scrollbars", "--window-size=1200,2400", "--screenshot="+shot, "file://"+page)
		if out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput(); err != nil {
			t.Errorf("screenshot: %v\n%s", err, out)
		}
	}
}

// TestConsoleCheckCanFail proves the console check sees errors: a page with
// a script error must be reported.
func TestConsoleCheckCanFail(t *testing.T) {
	bin := findChromium(t)
	dir := t.TempDir()
	page := filepath.Join(dir, "bad.html")
	if err := os.WriteFile(page, []byte(`<!DOCTYPE html><html><body><script>console.error("boom"); undefinedCall();</script></body></html>`), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := append([]string{}, chromiumFlags...)
	args[len(args)-1] += t.TempDir()
	args = append(args, "--dump-dom", "file://"+page)
	cmd := exec.CommandContext(ctx, bin, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if _, err := cmd.Output(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	if !consoleLine.MatchString(stderr.String()) {
		t.Errorf("console errors of a broken page were not seen; stderr:\n%s", stderr.String())
	}
}
