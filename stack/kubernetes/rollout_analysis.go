package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/aiuptime/aiuptime/stack"
)

// RolloutPhase says when an analysis check runs: while the Deployment's
// pods are being replaced, or in the window after the rollout completed.
type RolloutPhase string

// Rollout phases.
const (
	PhaseDuring RolloutPhase = "during"
	PhaseAfter  RolloutPhase = "after"
)

// RolloutCheck judges a rollout in progress: nil while it holds, else the
// breach in words with its numbers ("error rate 48.0% > 5.0%"). It is the
// caller's analysis (the drill's probe traffic, a golden prompt): the
// provider only runs it and acts on its verdict.
type RolloutCheck func(ctx context.Context, phase RolloutPhase) error

// Analysis defaults.
const (
	// DefaultAnalysisInterval is how often a RolloutCheck runs.
	DefaultAnalysisInterval = time.Second
)

// Errors of a rollout whose analysis failed.
var (
	// ErrRolledBack means a rollout's analysis failed and the Deployment
	// was rolled back to the revision before the change
	// (RolloutResult.Rollback).
	ErrRolledBack = errors.New("rollout rolled back")
	// ErrRollbackFailed means a rollout's analysis failed and so did the
	// rollback: the Deployment may be left on the bad revision.
	ErrRollbackFailed = errors.New("rollout analysis failed and its rollback failed")
)

type rolloutAnalysis struct {
	check    RolloutCheck
	interval time.Duration
	after    time.Duration
}

// RolloutAnalysis makes RollDeployment run check every interval (0:
// DefaultAnalysisInterval) while the rollout progresses, then for the
// window after it completed (at least once, at its end). The first failing
// check stops the wait and the Deployment is rolled back to the revision
// it had (UndoRollout) with the check's error, its phase and the change as
// the reason; RollDeployment then returns the result with Analysis and
// Rollback set and an error wrapping ErrRolledBack (ErrRollbackFailed
// and the undo's error, if that failed).
func RolloutAnalysis(check RolloutCheck, interval, after time.Duration) RolloutOption {
	return func(o *rolloutOptions) error {
		if check == nil {
			return errors.New("rollout analysis: nil check")
		}
		if interval < 0 || after < 0 {
			return fmt.Errorf("rollout analysis: interval %v, after %v: want >= 0", interval, after)
		}
		if interval == 0 {
			interval = DefaultAnalysisInterval
		}
		o.analysis = &rolloutAnalysis{check: check, interval: interval, after: after}
		return nil
	}
}

// RolloutJournal makes RollDeployment call fn with how to roll the
// Deployment back to the revision it has (stack.Undo of UndoRolloutFunc),
// after ownership was proved and before the Deployment is changed: the
// caller journals it, so a crash mid-rollout is undone by `drill cleanup`.
// An error from fn leaves the Deployment untouched.
func RolloutJournal(fn func(stack.Undo) error) RolloutOption {
	return func(o *rolloutOptions) error {
		if fn == nil {
			return errors.New("rollout journal: nil func")
		}
		o.before = fn
		return nil
	}
}

// AnalysisFailure is a failed RolloutCheck: when, in which phase, why.
type AnalysisFailure struct {
	At     time.Time    `json:"at"`
	Phase  RolloutPhase `json:"phase"`
	Reason string       `json:"reason"`
	err    error
}

// Error is the reason with its phase.
func (f *AnalysisFailure) Error() string {
	return fmt.Sprintf("analysis failed %s the rollout: %s", f.Phase, f.Reason)
}

// Unwrap returns the check's error.
func (f *AnalysisFailure) Unwrap() error { return f.err }

// waitAnalysed waits for the rollout as waitRollout does, running the
// analysis meanwhile and for its window afterwards. A failed check ends
// the wait with an *AnalysisFailure.
func waitAnalysed(ctx context.Context, dc deploymentGetter, name string, timeout time.Duration, a *rolloutAnalysis) (*appsv1.Deployment, error) {
	if a == nil {
		return waitRollout(ctx, dc, name, timeout)
	}
	wctx, cancel := context.WithCancel(ctx)
	var failed *AnalysisFailure
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		failed = a.run(wctx, PhaseDuring, 0)
		if failed != nil {
			cancel()
		}
	}()
	d, err := waitRollout(wctx, dc, name, timeout)
	cancel()
	wg.Wait()
	if failed != nil {
		return d, failed
	}
	if err != nil {
		return d, err
	}
	if f := a.run(ctx, PhaseAfter, a.after); f != nil {
		return d, f
	}
	return d, nil
}

// run checks every interval in phase until ctx ends (window 0) or the
// window has passed (then once more at its end); the first failure is
// returned. The context ending is no failure.
func (a *rolloutAnalysis) run(ctx context.Context, phase RolloutPhase, window time.Duration) *AnalysisFailure {
	check := func() *AnalysisFailure {
		err := a.check(ctx, phase)
		if err == nil || ctx.Err() != nil {
			return nil
		}
		return &AnalysisFailure{At: time.Now(), Phase: phase, Reason: err.Error(), err: err}
	}
	var end <-chan time.Time
	if phase == PhaseAfter {
		t := time.NewTimer(window)
		defer t.Stop()
		end = t.C
	}
	tick := time.NewTicker(a.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-end:
			return check()
		case <-tick.C:
			if f := check(); f != nil {
				return f
			}
		}
	}
}

// rollBack undoes a rollout whose analysis failed, to the revision before
// it, under a context that outlives the caller's cancellation (a rollback
// that stops half-way is worse than none).
func (s *Stack) rollBack(ctx context.Context, role stack.Role, change RolloutChange, res *RolloutResult, af *AnalysisFailure, opts []RolloutOption) (*RolloutResult, error) {
	res.Analysis = af
	reason := fmt.Sprintf("%s %s rollout of %s/%s to %s", af.Reason, af.Phase, res.Namespace, res.Deployment, change.describe())
	s.log.Warn("rollout analysis failed: rolling back", "deployment", res.Namespace+"/"+res.Deployment, "reason", reason,
		"to_revision", res.RevisionBefore)
	uopts := []RolloutOption{RolloutDeployment(res.Deployment)}
	o, _ := buildRolloutOptions(opts) // valid: roll applied them
	if o.timeout > 0 {
		uopts = append(uopts, RolloutTimeout(o.timeout))
	}
	uctx := context.WithoutCancel(ctx)
	if o.timeout == 0 {
		var cancel context.CancelFunc
		uctx, cancel = context.WithTimeout(uctx, DefaultRolloutTimeout)
		defer cancel()
	}
	undo, err := s.UndoRollout(uctx, role, res.RevisionBefore, reason, uopts...)
	res.Rollback = undo
	if undo != nil && undo.RevisionBefore > res.RevisionAfter {
		// The analysis may stop the wait before the controller numbered
		// the new revision: the undo read it.
		res.RevisionAfter = undo.RevisionBefore
	}
	if err != nil {
		return res, fmt.Errorf("%w: %w; the rollback to revision %d: %w", ErrRollbackFailed, af, res.RevisionBefore, err)
	}
	return res, fmt.Errorf("%w to revision %d: %w", ErrRolledBack, res.RevisionBefore, af)
}

// describe is the change in words, for reasons and logs.
func (c RolloutChange) describe() string {
	var p []string
	if c.Image != "" {
		p = append(p, "image "+c.Image)
	}
	if c.Args != nil {
		p = append(p, fmt.Sprintf("args %q", strings.Join(c.Args, " ")))
	}
	if len(c.AppendArgs) > 0 {
		p = append(p, fmt.Sprintf("extra args %q", strings.Join(c.AppendArgs, " ")))
	}
	if len(p) == 0 {
		return "run " + c.Run
	}
	return strings.Join(p, ", ")
}
