// Package statedir finds and checks the harness's state directory: where
// the revert journal, run locks, fault snapshots, backups and the embedded
// stacks' run files live. Whoever can write there can make `drill cleanup`
// act, so the directory must belong to the user running the harness and be
// writable by nobody else; directories the harness creates there are 0700.
package statedir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/aiuptime/aiuptime/exitcode"
)

// Default is the state directory unless $AIUPTIME_STATE_DIR says otherwise.
const Default = "/var/lib/aiuptime"

// Env names the environment variable that overrides Default.
const Env = "AIUPTIME_STATE_DIR"

// Dir returns $AIUPTIME_STATE_DIR, or Default.
func Dir() string {
	if d := os.Getenv(Env); d != "" {
		return d
	}
	return Default
}

// ErrUnsafe is what every refusal of a directory wraps.
var ErrUnsafe = errors.New("unsafe state directory")

// Error says which directory is refused and why. Its exit code is
// exitcode.Usage: the harness's configuration must change, nothing ran.
type Error struct {
	Dir     string
	Problem string
}

// Error names the directory and the problem.
func (e *Error) Error() string {
	return fmt.Sprintf("state directory %s: %s (fix it, or set $%s to a directory of your own with mode 0700)", e.Dir, e.Problem, Env)
}

// Unwrap is ErrUnsafe.
func (e *Error) Unwrap() error { return ErrUnsafe }

// ExitCode is exitcode.Usage.
func (e *Error) ExitCode() int { return exitcode.Usage }

// Check refuses dir unless it is a directory (not a symbolic link) owned
// by the effective user and writable by neither its group nor others.
func Check(dir string) error {
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return fmt.Errorf("state directory %s: %w", dir, err)
	}
	switch {
	case st.Mode&unix.S_IFMT == unix.S_IFLNK:
		return &Error{Dir: dir, Problem: "is a symbolic link"}
	case st.Mode&unix.S_IFMT != unix.S_IFDIR:
		return &Error{Dir: dir, Problem: "is not a directory"}
	case int(st.Uid) != os.Geteuid():
		return &Error{Dir: dir, Problem: fmt.Sprintf("is owned by uid %d, not by the user running the harness (uid %d)", st.Uid, os.Geteuid())}
	case st.Mode&0o022 != 0:
		return &Error{Dir: dir, Problem: fmt.Sprintf("mode %04o is writable by its group or others", st.Mode&0o7777)}
	}
	return nil
}

// Ensure creates dir (and missing parents) with mode 0700 if it does not
// exist, then checks it with Check.
func Ensure(dir string) error {
	if dir == "" {
		return &Error{Dir: `""`, Problem: "empty path"}
	}
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("create state directory %s: %w", dir, err)
		}
	}
	return Check(dir)
}

// Sub ensures the subdirectory name of the state directory dir (both
// checked; created 0700 when missing) and returns its path.
func Sub(dir, name string) (string, error) {
	if err := Ensure(dir); err != nil {
		return "", err
	}
	sub := filepath.Join(dir, name)
	return sub, Ensure(sub)
}
