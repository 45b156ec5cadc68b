package yamldoc

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aiuptime/aiuptime/internal/hostile"
)

func TestLimits(t *testing.T) {
	deep := func(n int) string { return "steps: " + strings.Repeat("[", n) + strings.Repeat("]", n) + "\n" }
	block := func(n int) string {
		var b strings.Builder
		for i := range n {
			b.WriteString(strings.Repeat(" ", i) + "k:\n")
		}
		return b.String() + strings.Repeat(" ", n) + "v\n"
	}
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"billion laughs", hostile.Laughs(), "f.yaml:7:"},
		{"200 KB nested flow sequence", deep(100_000), "f.yaml:1:"},
		{"65 nested flow sequences", deep(65), "nested deeper than 64 levels"},
		{"65 nested block mappings", block(65), "nested deeper than 64 levels"},
		{"dashes on one line", "a: " + strings.Repeat("- ", 70) + "x\n", "nested deeper than 64 levels"},
		{"alias nesting", "a: &a " + strings.Repeat("[", 40) + strings.Repeat("]", 40) + "\nb: " + strings.Repeat("[", 30) + "*a" + strings.Repeat("]", 30) + "\n", "alias *a nests deeper than 64 levels"},
		{"over 1 MiB", "a: " + strings.Repeat("x", MaxBytes) + "\n", "larger than 1048576 bytes"},
		{"too many tokens", "a: [" + strings.Repeat("1,", MaxTokens) + "1]\n", "more than 20000 YAML tokens"},
		{"not UTF-8", "a: b\nc: \xff\n", "f.yaml:2:4: not UTF-8 text"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(tc.doc), "a plan")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			if !strings.Contains(tc.name, "UTF-8") && !errors.Is(err, ErrLimit) {
				t.Errorf("%v is not ErrLimit", err)
			}
		})
	}
}

func TestLimitsAllowWhatPlansUse(t *testing.T) {
	for _, doc := range []string{
		"a: " + strings.Repeat("[", 63) + strings.Repeat("]", 63) + "\n",
		"d: &d {x: 1, y: [1, 2]}\ns1: *d\ns2: {<<: *d, z: 3}\n",
		"\xef\xbb\xbfname: bom\n",
	} {
		if _, err := Parse("f.yaml", []byte(doc), "a plan"); err != nil {
			t.Errorf("%.40q: %v", doc, err)
		}
	}
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, make([]byte, MaxBytes+1), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, want string }{
		{big, "larger than"},
		{filepath.Join(dir, "missing.yaml"), "no such plan"},
		{dir, "plan is not a regular file"},
		{"/dev/zero", "plan is not a regular file"},
	} {
		if _, err := ReadFile(tc.path, "plan"); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.path, err, tc.want)
		}
	}
}
