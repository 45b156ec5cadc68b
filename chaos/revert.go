package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
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
// Fault packages call it from init; registering a name twice panics.
func RegisterReverter(name string, fn ReverterFunc) {
	reverterMu.Lock()
	defer reverterMu.Unlock()
	if _, dup := reverters[name]; dup {
		panic("chaos: reverter registered twice: " + name)
	}
	reverters[name] = fn
}

// RegisterStateReverter registers under name a reverter whose journaled
// state is the JSON of an S: fn gets it decoded. A state that does not
// decode is an error "decode <last element of name> state: ...".
func RegisterStateReverter[S any](name string, fn func(ctx context.Context, st S) error) {
	RegisterReverter(name, func(ctx context.Context, rec Record) error {
		var st S
		if err := json.Unmarshal(rec.State, &st); err != nil {
			return fmt.Errorf("decode %s state: %w", path.Base(name), err)
		}
		return fn(ctx, st)
	})
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
		return func(ctx context.Context, rec Record) error { return undo(ctx, rec.State) }, true
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

func runReverter(ctx context.Context, rec Record, timeout time.Duration) (err error) {
	fn, ok := lookupReverter(rec.Reverter)
	if !ok {
		return &RevertError{Fault: rec.Kind, Target: rec.Target, Err: fmt.Errorf("no reverter %q registered (link chaos/kinds and the stack providers)", rec.Reverter)}
	}
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

// ReplayResult lists what Replay did.
type ReplayResult struct {
	Reverted []Record
	Failed   []Record
}

// Replay reverts every record left in journalDir (after a crash or SIGKILL),
// oldest last-in first-out, removing each record whose revert succeeded.
// Failures are joined into an error holding *RevertError values (exit 4).
func Replay(ctx context.Context, journalDir string, opts ...Option) (ReplayResult, error) {
	var res ReplayResult
	o, err := buildOptions(opts)
	if err != nil {
		return res, err
	}
	recs, err := ListRecords(journalDir)
	if err != nil {
		return res, err
	}
	j := &Journal{dir: journalDir, log: o.log, timeout: o.timeout}
	var errs []error
	for i := len(recs) - 1; i >= 0; i-- {
		rec := recs[i]
		if err := runReverter(ctx, rec, o.timeout); err != nil {
			o.log.Error("replay revert failed", "id", rec.ID, "kind", rec.Kind, "target", rec.Target, "err", err)
			res.Failed = append(res.Failed, rec)
			errs = append(errs, err)
			continue
		}
		if err := j.Remove(rec.ID); err != nil {
			res.Failed = append(res.Failed, rec)
			errs = append(errs, &RevertError{Fault: rec.Kind, Target: rec.Target, Err: err})
			continue
		}
		o.log.Info("replayed revert", "id", rec.ID, "kind", rec.Kind, "target", rec.Target, "mechanism", rec.Mechanism)
		res.Reverted = append(res.Reverted, rec)
	}
	return res, errors.Join(errs...)
}

// RevertNothing is the reverter of a record with nothing to undo (an
// instant fault journaled so a crash mid-inject still says what happened).
const RevertNothing = "none"

func init() {
	RegisterReverter(RevertNothing, func(context.Context, Record) error { return nil })
}

// NoRevert is a Revert with nothing to undo.
func NoRevert(context.Context) error { return nil }
