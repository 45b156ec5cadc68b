package stack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/aiuptime/aiuptime/internal/procfs"
)

// Identity is what a stack hurts, as its run lock and the journal name it.
type Identity struct {
	// Key names the stack's run lock: run-<id>, compose-<project> or
	// selector-<k=v,...>. Two drills with one key would hurt one stack.
	Key string
	// Run is the embedded stack's run id ("" for an attached deployment
	// that is no embedded run).
	Run string
	// Labels are carried by every container of the stack: the ownership
	// proof journal records are checked against before they are replayed.
	Labels map[string]string
	// Text says it in words, e.g. "embedded run r3f9a1c".
	Text string
}

// Identifier is a provider that can say what it hurts.
type Identifier interface {
	Identity() Identity
}

// IdentityOf returns st's identity, if its provider tells it.
func IdentityOf(st Stack) (Identity, bool) {
	if i, ok := st.(Identifier); ok {
		return i.Identity(), true
	}
	return Identity{}, false
}

// Errors of journaled state checks.
var (
	// ErrUntrusted refuses journaled state that does not decode, names no
	// owner, or would act outside what its owner provably holds: the
	// record is quarantined, never replayed.
	ErrUntrusted = errors.New("journaled state refused")
	// ErrGone says what a journaled revert would act on no longer exists
	// (its container, namespace, volume or file): that counts as reverted.
	ErrGone = errors.New("already gone")
)

// Untrusted wraps a refusal of journaled state in ErrUntrusted.
func Untrusted(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUntrusted, fmt.Sprintf(format, args...))
}

// Scope is what one journaled revert may act on: the objects of the
// record's owner (containers carrying Labels, their mounts and processes)
// and, under the state directory, the files of its own run and record.
type Scope struct {
	// Run is the record's run id.
	Run string
	// RecordID is the record's id: what is named after it (a qdisc handle,
	// an nftables table, a toxic, a snapshot, a filler file) is the only
	// such thing it may remove.
	RecordID string
	// Labels are carried by every container the record may act on.
	Labels map[string]string
	// StateDir is the state directory the journal lives in.
	StateDir string
	// Verify is set when the record was read back from disk (replay):
	// then every object and path is proved owned before anything acts.
	Verify bool
	// Prover finds what Labels own (nil: the registered prover).
	Prover Prover
	// Cache shares proofs between the records of one replay (optional).
	Cache *ProofCache
}

// Owned is what the containers (and volumes) carrying a set of labels hold
// on this host, as a Prover found it.
type Owned struct {
	// Roots are host paths whose contents belong to the owner: the
	// sources of its containers' mounts and the mountpoints of its volumes.
	Roots []string
	// Processes are the main processes of its running containers.
	Processes []procfs.Ident
	// Namespaces are the net, pid and mnt namespaces of those processes.
	Namespaces []procfs.NSID
	// Containers are the ids and names of its containers.
	Containers []string
	// Endpoints are the host addresses (host:port) its containers publish.
	Endpoints []string
}

// Prover finds, from any process and without the stack object, what the
// containers carrying labels own. stack/dockerhost registers the Docker
// one.
type Prover interface {
	Owned(ctx context.Context, labels map[string]string) (Owned, error)
}

var (
	proverMu sync.RWMutex
	prover   Prover
)

// RegisterProver sets the prover scopes use by default.
func RegisterProver(p Prover) {
	proverMu.Lock()
	defer proverMu.Unlock()
	prover = p
}

// ProofCache keeps what each set of labels owns for the records of one
// replay. The zero value is ready.
type ProofCache struct {
	mu sync.Mutex
	m  map[string]Owned
}

var runIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)

// ValidRunID reports whether id can be a run id (and so a path element).
func ValidRunID(id string) bool { return runIDPattern.MatchString(id) }

// OwnerLabels are the labels a record's objects must carry: Labels, or for
// a record of an embedded run without them, its run label.
func (sc Scope) OwnerLabels() map[string]string {
	if len(sc.Labels) > 0 {
		return sc.Labels
	}
	if ValidRunID(sc.Run) {
		return map[string]string{LabelRun: sc.Run}
	}
	return nil
}

// Owned returns what the scope's labels own (cached per replay).
func (sc Scope) Owned(ctx context.Context) (Owned, error) {
	labels := sc.OwnerLabels()
	if len(labels) == 0 {
		return Owned{}, Untrusted("the record names no owner (no labels, no run id): nothing can be proved to be its")
	}
	key := labelKey(labels)
	if sc.Cache != nil {
		sc.Cache.mu.Lock()
		defer sc.Cache.mu.Unlock()
		if o, ok := sc.Cache.m[key]; ok {
			return o, nil
		}
	}
	p := sc.Prover
	if p == nil {
		proverMu.RLock()
		p = prover
		proverMu.RUnlock()
	}
	if p == nil {
		return Owned{}, Untrusted("nothing can prove what %s owns: no prover registered (link stack/dockerhost)", key)
	}
	o, err := p.Owned(ctx, labels)
	if err != nil {
		return o, fmt.Errorf("prove what %s owns: %w", key, err)
	}
	if sc.Cache != nil {
		if sc.Cache.m == nil {
			sc.Cache.m = map[string]Owned{}
		}
		sc.Cache.m[key] = o
	}
	return o, nil
}

func labelKey(labels map[string]string) string {
	parts := make([]string, 0, len(labels))
	for k, v := range labels {
		parts = append(parts, k+"="+v)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// RunDir is the state directory's files of the scope's run
// (<state dir>/runs/<run>), "" when the run id is no valid one.
func (sc Scope) RunDir() string {
	if sc.StateDir == "" || !ValidRunID(sc.Run) {
		return ""
	}
	return filepath.Join(sc.StateDir, "runs", sc.Run)
}

// OwnsPath returns nil when path lies beneath the scope's run directory or
// beneath a root its owner provably holds, with no symbolic link on the
// way down from that root; else an error wrapping ErrUntrusted.
func (sc Scope) OwnsPath(ctx context.Context, path string) error {
	if !filepath.IsAbs(path) || filepath.Clean(path) != path || path == "/" {
		return Untrusted("path %q is not a clean absolute path", path)
	}
	var roots []string
	if d := sc.RunDir(); d != "" {
		roots = append(roots, d)
	}
	if root, ok := beneath(path, roots); ok {
		return noLinkBelow(root, path)
	}
	o, err := sc.Owned(ctx)
	if err != nil {
		return err
	}
	if root, ok := beneath(path, o.Roots); ok {
		return noLinkBelow(root, path)
	}
	return Untrusted("%s is in no mount or volume of a container labelled %s, nor under %s", path, labelKey(sc.OwnerLabels()), orNone(sc.RunDir()))
}

func orNone(s string) string {
	if s == "" {
		return "the run's state directory (no run id)"
	}
	return s
}

// beneath returns the longest root (never "/") that path lies beneath.
func beneath(path string, roots []string) (string, bool) {
	best := ""
	for _, r := range roots {
		r = filepath.Clean(r)
		if r == "/" || !filepath.IsAbs(r) {
			continue
		}
		if (path == r || strings.HasPrefix(path, r+"/")) && len(r) > len(best) {
			best = r
		}
	}
	return best, best != ""
}

// noLinkBelow refuses a symbolic link on any component of path below root
// (a missing component ends the walk: nothing beyond it exists).
func noLinkBelow(root, path string) error {
	rel, err := filepath.Rel(root, path)
	if err != nil || rel == "." {
		return err
	}
	cur := root
	for _, part := range strings.Split(rel, "/") {
		cur = filepath.Join(cur, part)
		fi, err := os.Lstat(cur)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("check %s: %w", cur, err)
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return Untrusted("%s is a symbolic link below %s: the record would act through it", cur, root)
		}
	}
	return nil
}

// OwnsProcess returns nil when pid (started at start) is the main process
// of a running container of the owner, or lives in one of its PID
// namespaces; else an error wrapping ErrUntrusted.
func (sc Scope) OwnsProcess(ctx context.Context, pid int, start uint64) error {
	o, err := sc.Owned(ctx)
	if err != nil {
		return err
	}
	for _, p := range o.Processes {
		if p.PID == pid && (start == 0 || p.Start == start) {
			return nil
		}
	}
	if ns, err := procfs.NamespaceOf(procfs.NSPath(pid, "pid")); err == nil && procfs.Alive(pid, start) {
		if sc.ownsNS(o, ns) {
			return nil
		}
	}
	return Untrusted("pid %d is no process of a container labelled %s", pid, labelKey(sc.OwnerLabels()))
}

// OwnsNamespace returns nil when ns is a namespace of a running container
// of the owner; else an error wrapping ErrUntrusted.
func (sc Scope) OwnsNamespace(ctx context.Context, ns procfs.NSID) error {
	o, err := sc.Owned(ctx)
	if err != nil {
		return err
	}
	if sc.ownsNS(o, ns) {
		return nil
	}
	return Untrusted("namespace %d:%d belongs to no container labelled %s", ns.Dev, ns.Ino, labelKey(sc.OwnerLabels()))
}

func (sc Scope) ownsNS(o Owned, ns procfs.NSID) bool {
	for _, n := range o.Namespaces {
		if n == ns {
			return true
		}
	}
	return false
}

// OwnsContainer reports whether ref (an id or a name) is a container of
// the owner.
func (sc Scope) OwnsContainer(ctx context.Context, ref string) (bool, error) {
	o, err := sc.Owned(ctx)
	if err != nil {
		return false, err
	}
	for _, c := range o.Containers {
		if c == ref && ref != "" {
			return true, nil
		}
	}
	return false, nil
}

// OwnsEndpoint returns nil when hostport is published by a container of
// the owner; else an error wrapping ErrUntrusted.
func (sc Scope) OwnsEndpoint(ctx context.Context, hostport string) error {
	o, err := sc.Owned(ctx)
	if err != nil {
		return err
	}
	for _, e := range o.Endpoints {
		if e == hostport {
			return nil
		}
	}
	return Untrusted("%s is published by no container labelled %s", hostport, labelKey(sc.OwnerLabels()))
}

// CarriesLabels returns nil when labels hold every label of the scope's
// owner; else an error wrapping ErrUntrusted.
func (sc Scope) CarriesLabels(labels map[string]string) error {
	want := sc.OwnerLabels()
	if len(want) == 0 {
		return Untrusted("the record names no owner (no labels, no run id)")
	}
	for k, v := range want {
		if labels[k] != v {
			return Untrusted("label %s is %q, not %q", k, labels[k], v)
		}
	}
	return nil
}

// UndoChecker is journaled undo state that can check, before a replay
// acts, that it acts only within its scope.
type UndoChecker interface {
	Check(ctx context.Context, sc Scope) error
}

// RegisterUndoState registers under name an undo function whose journaled
// state is the JSON of an S. When the record is replayed (sc.Verify) the
// state's Check runs first: a refusal quarantines the record, ErrGone
// counts as undone.
func RegisterUndoState[S UndoChecker](name string, fn func(ctx context.Context, sc Scope, st S) error) {
	RegisterUndo(name, func(ctx context.Context, sc Scope, state json.RawMessage) error {
		var st S
		if err := json.Unmarshal(state, &st); err != nil {
			return Untrusted("decode %s state: %v", filepath.Base(name), err)
		}
		if sc.Verify {
			if err := st.Check(ctx, sc); errors.Is(err, ErrGone) {
				return nil
			} else if err != nil {
				return err
			}
		}
		return fn(ctx, sc, st)
	})
}

// CheckContinue is the part of a signal undo's check that does not depend
// on the provider: the undo may only continue stopped processes (SIGCONT),
// and processes that are all gone took their stop with them (ErrGone).
func CheckContinue(procs []procfs.Process, signal int) error {
	if syscall.Signal(signal) != unix.SIGCONT {
		return Untrusted("signal undo sends signal %d; only SIGCONT undoes a stop", signal)
	}
	for _, p := range procs {
		if procfs.Alive(p.HostPID, p.Start) {
			return nil
		}
	}
	return ErrGone
}
