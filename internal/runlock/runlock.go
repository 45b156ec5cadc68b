// Package runlock keeps two drills off one stack: a drill holds an
// exclusive flock(2) on <state dir>/locks/<key>.lock for as long as it may
// hurt the stack named by key, and writes who it is into the file. A second
// drill on the same stack is refused at once with exit code 2, naming the
// holder. The kernel drops the lock when the holder dies, even by SIGKILL,
// so a lock is never stale; the file left behind names its last holder.
package runlock

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/aiuptime/aiuptime/exitcode"
	"github.com/aiuptime/aiuptime/internal/procfs"
	"github.com/aiuptime/aiuptime/internal/statedir"
	"github.com/aiuptime/aiuptime/stack"
)

// Dir is the lock directory inside a state directory.
func Dir(stateDir string) string { return filepath.Join(stateDir, "locks") }

// Holder is who holds a lock: the process, the run, the plan and since when.
type Holder struct {
	procfs.Ident
	// Key is the lock's key, e.g. run-r3f9a1c or compose-litellm.
	Key string `json:"key"`
	// Stack says in words what is locked, e.g. "embedded run r3f9a1c".
	Stack string `json:"stack,omitempty"`
	// Run is the holder's run id.
	Run string `json:"run,omitempty"`
	// Plan is the plan the holder runs ("" for a single fault or a stack command).
	Plan  string    `json:"plan,omitempty"`
	Since time.Time `json:"since"`
}

// String describes the holder for a refusal message.
func (h Holder) String() string {
	var parts []string
	parts = append(parts, fmt.Sprintf("pid %d", h.PID))
	if h.Run != "" {
		parts = append(parts, "run "+h.Run)
	}
	if h.Plan != "" {
		parts = append(parts, "plan "+h.Plan)
	}
	if !h.Since.IsZero() {
		parts = append(parts, "since "+h.Since.UTC().Format(time.RFC3339))
	}
	return strings.Join(parts, ", ")
}

// ErrHeld is what a refusal wraps.
var ErrHeld = errors.New("in use by another drill")

// HeldError refuses a lock another process holds. Its exit code is
// exitcode.Usage: nothing was started or changed.
type HeldError struct {
	Key    string
	Path   string
	Holder Holder
	// Known is false when the holder had not written its name yet.
	Known bool
}

// Error names the stack and the holder.
func (e *HeldError) Error() string {
	what := e.Holder.Stack
	if what == "" {
		what = e.Key
	}
	who := "a process that has not said who it is yet"
	if e.Known {
		who = e.Holder.String()
	}
	return fmt.Sprintf("%s is %v: held by %s (lock %s); wait for that drill to end, or stop it", what, ErrHeld, who, e.Path)
}

// Unwrap is ErrHeld.
func (e *HeldError) Unwrap() error { return ErrHeld }

// ExitCode is exitcode.Usage.
func (e *HeldError) ExitCode() int { return exitcode.Usage }

// Lock is a held lock; Release gives it back.
type Lock struct {
	f      *os.File
	path   string
	holder Holder
}

// Holder is who holds l (this process).
func (l *Lock) Holder() Holder { return l.holder }

// Path is the lock file.
func (l *Lock) Path() string { return l.path }

var plainKey = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$`)

// File is the lock file of key in stateDir: the key itself when it is a
// plain name, else a hash of it.
func File(stateDir, key string) string {
	name := key
	if !plainKey.MatchString(key) {
		sum := sha256.Sum256([]byte(key))
		name = "h-" + hex.EncodeToString(sum[:12])
	}
	return filepath.Join(Dir(stateDir), name+".lock")
}

// Acquire takes the lock of key in stateDir without waiting and writes h
// (with this process's identity, the key and now) into it. A lock another
// process holds is a *HeldError naming it.
func Acquire(stateDir, key string, h Holder) (*Lock, error) {
	if key == "" {
		return nil, errors.New("run lock: empty key")
	}
	if _, err := statedir.Sub(stateDir, "locks"); err != nil {
		return nil, err
	}
	self, err := procfs.Self()
	if err != nil {
		return nil, fmt.Errorf("run lock %s: %w", key, err)
	}
	h.Ident, h.Key = self, key
	if h.Since.IsZero() {
		h.Since = time.Now().UTC()
	}
	path := File(stateDir, key)
	for attempt := 0; attempt < 8; attempt++ {
		f, err := lockFile(path)
		if errors.Is(err, unix.EWOULDBLOCK) {
			held := &HeldError{Key: key, Path: path}
			held.Holder, held.Known = readHolder(path)
			return nil, held
		}
		if errors.Is(err, errReplaced) {
			continue // the previous holder removed the file as we locked it
		}
		if err != nil {
			return nil, fmt.Errorf("run lock %s: %w", path, err)
		}
		l := &Lock{f: f, path: path, holder: h}
		if err := l.write(); err != nil {
			l.Release()
			return nil, err
		}
		return l, nil
	}
	return nil, fmt.Errorf("run lock %s: the file kept being replaced", path)
}

var errReplaced = errors.New("lock file replaced")

// lockFile opens path (never through a symbolic link) and takes an
// exclusive flock without waiting; it makes sure the locked file is still
// the one at path (a releasing holder unlinks it).
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, err
	}
	var open, now unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &open); err != nil {
		f.Close()
		return nil, err
	}
	if err := unix.Lstat(path, &now); err != nil || now.Ino != open.Ino || now.Dev != open.Dev {
		f.Close()
		return nil, errReplaced
	}
	return f, nil
}

func (l *Lock) write() error {
	b, err := json.Marshal(l.holder)
	if err != nil {
		return err
	}
	if err := l.f.Truncate(0); err != nil {
		return fmt.Errorf("run lock %s: %w", l.path, err)
	}
	if _, err := l.f.WriteAt(append(b, '\n'), 0); err != nil {
		return fmt.Errorf("run lock %s: %w", l.path, err)
	}
	return l.f.Sync()
}

// Release removes the lock file and drops the lock (idempotent; nil-safe).
func (l *Lock) Release() {
	if l == nil || l.f == nil {
		return
	}
	_ = os.Remove(l.path) // while still locked: the next holder makes a fresh file
	_ = l.f.Close()
	l.f = nil
}

// readHolder reads the holder written in path. A holder that has just
// taken the lock may not have written yet: it is read again briefly.
func readHolder(path string) (Holder, bool) {
	deadline := time.Now().Add(500 * time.Millisecond)
	for {
		b, err := os.ReadFile(path)
		var h Holder
		if err == nil && json.Unmarshal(b, &h) == nil && h.PID > 0 {
			return h, true
		}
		if time.Now().After(deadline) {
			return Holder{}, false
		}
		time.Sleep(10 * time.Millisecond) // no event tells when the holder has written
	}
}

// Status is one lock file: its last holder and whether that holder still
// holds it.
type Status struct {
	Holder
	Path string `json:"path"`
	Held bool   `json:"held"`
}

// List reports every lock file in stateDir, held ones first. It changes
// nothing (a missing lock directory holds no locks).
func List(stateDir string) ([]Status, error) {
	ents, err := os.ReadDir(Dir(stateDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list run locks: %w", err)
	}
	var out []Status
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".lock") || !e.Type().IsRegular() {
			continue
		}
		path := filepath.Join(Dir(stateDir), e.Name())
		st := Status{Path: path, Held: held(path)}
		b, err := os.ReadFile(path)
		if err == nil {
			_ = json.Unmarshal(b, &st.Holder)
		}
		out = append(out, st)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Held && !out[j].Held })
	return out, nil
}

// held reports whether some process holds the lock of path.
func held(path string) bool {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	err = unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB)
	if err == nil {
		_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
		return false
	}
	return errors.Is(err, unix.EWOULDBLOCK)
}

// HeldRuns returns the run ids whose locks are held now, mapped to holders.
func HeldRuns(stateDir string) (map[string]Holder, error) {
	ls, err := List(stateDir)
	out := map[string]Holder{}
	for _, s := range ls {
		if s.Held && s.Run != "" {
			out[s.Run] = s.Holder
		}
	}
	return out, err
}

// NewRunID returns a fresh run id for a drill on a stack that has none of
// its own (an attached deployment): prefix and 8 hex digits.
func NewRunID(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// ForStack takes the lock of the stack st hurts (by its stack.Identity)
// for plan, and names the run: the stack's own run, else a fresh id with
// prefix (an attached deployment). A stack that cannot say what it is
// (plain URLs) cannot be hurt: it is not locked and the Lock is nil.
func ForStack(stateDir string, st stack.Stack, prefix, plan string) (string, *Lock, error) {
	id, ok := stack.IdentityOf(st)
	run := id.Run
	if run == "" {
		run = st.RunID()
	}
	if run == "" {
		run = NewRunID(prefix)
	}
	if !ok {
		return run, nil, nil
	}
	l, err := Acquire(stateDir, id.Key, Holder{Stack: id.Text, Run: run, Plan: plan})
	return run, l, err
}
