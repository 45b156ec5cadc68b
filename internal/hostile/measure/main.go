// Command measure runs a command and writes what it cost to a file: its
// exit code, wall time, CPU time and peak memory (max RSS). hostile.Run
// starts the drill through it because a child's max RSS, as wait4 reports
// it, is at least its parent's RSS at the fork: the kernel counts the
// memory the child shared with its parent until it called exec. A test
// process is large (one that started containers is 150 MB); this program
// is a few MB, so the drill's own peak is what shows.
//
//	measure RESULT.json COMMAND [ARG...]
//
// The command inherits the working directory, environment, stdout and
// stderr; measure exits 0 once RESULT.json is written, 1 if the command
// could not be started.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Result is what measure writes.
type Result struct {
	Exit      int   `json:"exit"`
	WallNS    int64 `json:"wall_ns"`
	CPUNS     int64 `json:"cpu_ns"` // user + system
	MaxRSSKiB int64 `json:"max_rss_kib"`
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: measure RESULT.json COMMAND [ARG...]")
		os.Exit(1)
	}
	cmd := exec.Command(os.Args[2], os.Args[3:]...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		fmt.Fprintln(os.Stderr, "measure:", err)
		os.Exit(1)
	}
	ps := cmd.ProcessState
	r := Result{Exit: ps.ExitCode(), WallNS: wall.Nanoseconds(), CPUNS: (ps.UserTime() + ps.SystemTime()).Nanoseconds()}
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		r.MaxRSSKiB = ru.Maxrss // KiB on Linux
	}
	b, _ := json.Marshal(r)
	if err := os.WriteFile(os.Args[1], b, 0o600); err != nil {
		fmt.Fprintln(os.Stderr, "measure:", err)
		os.Exit(1)
	}
}
