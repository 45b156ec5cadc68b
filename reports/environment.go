package reports

import (
	"os"
	"runtime"
	"strings"
)

// CurrentEnvironment describes the machine the drill runs on: host name,
// kernel release, OS, architecture, CPUs and Go version, with the given
// tool version.
func CurrentEnvironment(toolVersion string) Environment {
	e := Environment{OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), ToolVersion: toolVersion}
	e.Host, _ = os.Hostname()
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		e.Kernel = strings.TrimSpace(string(b))
	}
	return e
}

// ExitCode maps a verdict to the command-line contract's exit code:
// pass 0, fail 1 (an SLO breached), error 3, aborted 5. A failed revert
// (4) is decided by the runner, not by the verdict.
func (v Verdict) ExitCode() int {
	switch v {
	case VerdictPass:
		return 0
	case VerdictFail:
		return 1
	case VerdictAborted:
		return 5
	default:
		return 3
	}
}
