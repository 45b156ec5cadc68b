package redacttest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestScanFilesFindsEveryForm(t *testing.T) {
	const canary = `canary<&>"1234`
	dir := t.TempDir()
	files := map[string]string{
		"clean.txt":       "nothing here\n",
		"raw.log":         "line 1\nline 2 " + canary + "\n",
		"sub/report.json": `{"e": "canary\u003c\u0026\u003e\"1234"}`,
		"sub/page.html":   "<p>canary&lt;&amp;&gt;&#34;1234</p>",
		"url.txt":         "https://h/?q=canary%3C%26%3E%221234",
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A symlink to a file with the canary outside the dir is not followed.
	outside := filepath.Join(t.TempDir(), "outside")
	_ = os.WriteFile(outside, []byte(canary), 0o644)
	if err := os.Symlink(outside, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	leaks, err := ScanFiles([]string{dir}, canary)
	if err != nil {
		t.Fatal(err)
	}
	got := Report(leaks)
	for _, want := range []string{"raw.log:2:", "report.json:1:", "page.html:1:", "url.txt:1:"} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %s in:\n%s", want, got)
		}
	}
	if strings.Contains(got, "clean.txt") || strings.Contains(got, "link") {
		t.Errorf("false leak:\n%s", got)
	}
	all, err := Files(dir)
	if err != nil || len(all) != len(files) {
		t.Errorf("Files = %v, %v; want %d files", all, err, len(files))
	}
	if l := ScanText("stderr", "ok\n"+canary, canary); len(l) != 1 || l[0].Line != 2 {
		t.Errorf("ScanText = %v", l)
	}
}
