package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// testRevision is a VCS revision as go build records it.
const testRevision = "0123456789abcdef0123456789abcdef01234567"

// buildSettings makes build settings from key, value pairs.
func buildSettings(kv ...string) []debug.BuildSetting {
	var s []debug.BuildSetting
	for i := 0; i < len(kv); i += 2 {
		s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
	}
	return s
}

// TestFormatVersion renders the version line from build infos as go
// build records them.
func TestFormatVersion(t *testing.T) {
	const rev = testRevision
	vcs := buildSettings
	for _, tc := range []struct {
		name, version string
		bi            *debug.BuildInfo
		want          string
	}{
		{"no build info", "dev", nil, "drill dev (revision unknown: built without VCS information) go1.26.0 linux/amd64"},
		{"built without VCS", "dev", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs("-buildvcs", "false")},
			"drill dev (revision unknown: built without VCS information) go1.26.0 linux/amd64"},
		{"clean checkout", "dev", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"},
			Settings: vcs("vcs", "git", "vcs.revision", rev, "vcs.time", "2026-12-02T14:00:00Z", "vcs.modified", "false")},
			"drill dev (revision " + rev + ", 2026-12-02T14:00:00Z, clean) go1.26.0 linux/amd64"},
		{"modified checkout, module pseudo-version", "dev", &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261202140000-0123456789ab+dirty"},
			Settings: vcs("vcs.revision", rev, "vcs.time", "2026-12-02T14:00:00Z", "vcs.modified", "true")},
			"drill v0.0.0-20261202140000-0123456789ab+dirty (revision " + rev + ", 2026-12-02T14:00:00Z, modified) go1.26.0 linux/amd64"},
		{"-ldflags version wins", "v1.2.3", &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-x"}, Settings: vcs("vcs.revision", rev)},
			"drill v1.2.3 (revision " + rev + ") go1.26.0 linux/amd64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, formatVersion(tc.version, tc.bi, "go1.26.0", "linux/amd64")); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestVersionOfBuiltBinary builds drill twice in this checkout: with VCS
// information, --version names the commit HEAD is at (40 hex digits);
// with -buildvcs=false it says the revision is unknown. drill version
// prints the same line.
func TestVersionOfBuiltBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds the drill binary")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	headBefore := gitHead(ctx)
	dir := t.TempDir()
	withVCS, without := filepath.Join(dir, "drill"), filepath.Join(dir, "drill-novcs")
	for bin, flag := range map[string]string{withVCS: "-buildvcs=auto", without: "-buildvcs=false"} {
		if out, err := exec.CommandContext(ctx, "go", "build", flag, "-o", bin, ".").CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", flag, err, out)
		}
	}
	heads := map[string]bool{headBefore: true, gitHead(ctx): true} // a commit may land meanwhile
	revision := regexp.MustCompile(`^drill \S+ \(revision ([0-9a-f]{40}), [0-9TZ:-]+, (modified|clean)\) go\S+ \S+/\S+$`)

	line := versionOutput(ctx, t, withVCS)
	m := revision.FindStringSubmatch(line)
	switch {
	case headBefore == "" && !strings.Contains(line, "revision unknown"):
		t.Errorf("built outside a git checkout, --version claims a revision: %q", line)
	case headBefore != "" && (m == nil || !heads[m[1]]):
		t.Errorf("--version = %q, want the revision of HEAD (%s)", line, headBefore)
	}
	if line := versionOutput(ctx, t, without); !strings.Contains(line, "(revision unknown: built without VCS information)") {
		t.Errorf("-buildvcs=false: --version = %q, want an unknown revision", line)
	}
}

// versionOutput runs bin --version and bin version, checks they agree,
// and returns the line.
func versionOutput(ctx context.Context, t *testing.T, bin string) string {
	t.Helper()
	var lines []string
	for _, arg := range []string{"--version", "version"} {
		out, err := exec.CommandContext(ctx, bin, arg).Output()
		if err != nil {
			t.Fatalf("%s %s: %v", bin, arg, err)
		}
		lines = append(lines, strings.TrimSuffix(string(out), "\n"))
	}
	if lines[0] != lines[1] {
		t.Errorf("--version printed %q, version %q", lines[0], lines[1])
	}
	return lines[0]
}

// gitHead is the commit HEAD is at, or "" outside a git checkout.
func gitHead(ctx context.Context) string {
	out, err := exec.CommandContext(ctx, "git", "rev-parse", "HEAD").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// TestShortVersion: reports record the version with the short revision,
// marked dirty for a modified work tree, and no revision when there is none.
func TestShortVersion(t *testing.T) {
	const rev = testRevision
	set := buildSettings
	for _, tc := range []struct {
		name, version string
		bi            *debug.BuildInfo
		want          string
	}{
		{"no build info", "dev", nil, "dev"},
		{"no VCS", "dev", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "dev"},
		{"clean", "dev", &debug.BuildInfo{Settings: set("vcs.revision", rev, "vcs.modified", "false")}, "dev+0123456789ab"},
		{"modified", "v1.2.3", &debug.BuildInfo{Settings: set("vcs.revision", rev, "vcs.modified", "true")}, "v1.2.3+0123456789ab+dirty"},
		{"short revision", "dev", &debug.BuildInfo{Settings: set("vcs.revision", "abc")}, "dev+abc"},
	} {
		if got := shortVersion(tc.version, tc.bi); got != tc.want {
			t.Errorf("%s: shortVersion = %q; want %q", tc.name, got, tc.want)
		}
	}
}
