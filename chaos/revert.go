package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"sort"
	"sync"
	"time"

	"github.com/aiuptime/aiuptime/exitcode"
	"github.com/aiuptime/aiuptime/stack"
)

// ReverterFunc undoes the state journaled in rec. It must be idempotent:
// state that is already gone (container removed, netns gone, toxic deleted)
// is success.
type ReverterFunc func(ctx context.Context, rec Record) error

var (
	reverterMu sync.RWMutex
	reverters  = map[string]ReverterFunc{}
)

// RegisterReverter makes fn replayable under name (e.g. "network/qdisc").
// Fault packages call it from init; registering a name twice panics. It is
// for reverters that act on nothing (an instant fault's "none"): a
// reverter that acts registers with RegisterStateReverter, so a replay
// checks its state first.
func RegisterReverter(name string, fn ReverterFunc) {
	reverterMu.Lock()
	defer reverterMu.Unlock()
	if _, dup := reverters[name]; dup {
		panic("chaos: reverter registered twice: " + name)
	}
	reverters[name] = fn
}

// Scope is what one journaled revert may act on (see stack.Scope): the
// objects of the record's owner, and under the state directory the files
// of its own run and record.
type Scope = stack.Scope

// Checker is journaled state that proves, before a replay acts on it, that
// it acts only within its record's scope: on containers carrying the
// record's labels, on their processes and namespaces, beneath the roots
// they mount, under the state directory's files of its own run and
// record, and on names derived from the record's id. A refusal wraps
// stack.ErrUntrusted (the record is quarantined); stack.ErrGone says the
// target no longer exists, which counts as reverted.
type Checker = stack.UndoChecker

// Sentinels of journaled state checks.
var (
	// ErrUntrusted refuses a record: it is quarantined, never replayed.
	ErrUntrusted = stack.ErrUntrusted
	// ErrGone says what a record would act on is gone: reverted.
	ErrGone = stack.ErrGone
)

type scopeKey struct{}

// ScopeOf returns the scope a reverter runs in.
func ScopeOf(ctx context.Context) (Scope, bool) {
	sc, ok := ctx.Value(scopeKey{}).(Scope)
	return sc, ok
}

// RegisterStateReverter registers under name a reverter whose journaled
// state is the JSON of an S: fn gets it decoded. When the record is
// replayed from disk, S's Check runs first. A state that does not decode
// is untrusted: "decode <last element of name> state: ...".
func RegisterStateReverter[S Checker](name string, fn func(ctx context.Context, st S) error) {
	RegisterReverter(name, func(ctx context.Context, rec Record) error {
		var st S
		if err := json.Unmarshal(rec.State, &st); err != nil {
			return stack.Untrusted("decode %s state: %v", path.Base(name), err)
		}
		if sc, ok := ScopeOf(ctx); ok && sc.Verify {
			if err := st.Check(ctx, sc); errors.Is(err, ErrGone) {
				return nil
			} else if err != nil {
				return err
			}
		}
		return fn(ctx, st)
	})
}

// ReverterNames lists the registered reverters and the stack providers'
// undo functions, sorted.
func ReverterNames() []string {
	reverterMu.RLock()
	out := stack.UndoNames()
	for n := range reverters {
		out = append(out, n)
	}
	reverterMu.RUnlock()
	sort.Strings(out)
	return out
}

// lookupReverter finds a reverter registered here, or else an undo
// function a stack provider registered (stack.RegisterUndo): lifecycle
// faults journal the provider's own way back.
func lookupReverter(name string) (ReverterFunc, bool) {
	reverterMu.RLock()
	fn, ok := reverters[name]
	reverterMu.RUnlock()
	if ok {
		return fn, true
	}
	if undo, ok := stack.LookupUndo(name); ok {
		return func(ctx context.Context, rec Record) error {
			sc, _ := ScopeOf(ctx)
			return undo(ctx, sc, rec.State)
		}, true
	}
	return nil, false
}

// RevertError reports a revert that failed: something may be left behind.
// It carries exit code exitcode.Revert (4).
type RevertError struct {
	Fault  string
	Target string
	Err    error
}

// Error describes the failed revert.
func (e *RevertError) Error() string {
	return fmt.Sprintf("REVERT FAILED for %s on %s (a fault may be left behind; run `drill cleanup`): %v", e.Fault, e.Target, e.Err)
}

// Unwrap returns the cause.
func (e *RevertError) Unwrap() error { return e.Err }

// ExitCode is exitcode.Revert.
func (e *RevertError) ExitCode() int { return exitcode.Revert }

// IsRevertError reports whether err holds a *RevertError.
func IsRevertError(err error) bool {
	var re *RevertError
	return errors.As(err, &re)
}

// runReverter opens rec's state and runs its reverter in scope sc.
func runReverter(ctx context.Context, rec Record, timeout time.Duration, sc Scope) (err error) {
	fn, ok := lookupReverter(rec.Reverter)
	if !ok {
		return &RevertError{Fault: rec.Kind, Target: rec.Target, Err: stack.Untrusted("no reverter %q registered (link chaos/kinds and the stack providers)", rec.Reverter)}
	}
	state, err := openState(rec, sc.StateDir)
	if err != nil {
		return &RevertError{Fault: rec.Kind, Target: rec.Target, Err: err}
	}
	rec.State = state
	ctx = context.WithValue(ctx, scopeKey{}, sc)
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			err = &RevertError{Fault: rec.Kind, Target: rec.Target, Err: fmt.Errorf("panic: %v", p)}
		}
	}()
	if err := fn(rctx, rec); err != nil {
		return &RevertError{Fault: rec.Kind, Target: rec.Target, Err: err}
	}
	return nil
}

// RevertNothing is the reverter of a record with nothing to undo (an
// instant fault journaled so a crash mid-inject still says what happened).
const RevertNothing = "none"

func init() {
	RegisterReverter(RevertNothing, func(context.Context, Record) error { return nil })
}

// NoRevert is a Revert with nothing to undo.
func NoRevert(context.Context) error { return nil }
