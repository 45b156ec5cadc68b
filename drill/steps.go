package drill

import (
	"context"
	"fmt"
	"time"

	"github.com/aiuptime/aiuptime/drill/plan"
	"github.com/aiuptime/aiuptime/reports"
	"github.com/aiuptime/aiuptime/uptime"
)

// runSteps executes the steps in order. It returns a harness error, or the
// cancellation cause when aborted.
func (r *Runner) runSteps(ctx context.Context) error {
	log := r.o.log
	log.Info("shares of a role are chosen by the seed (drill run --seed repeats them)", "seed", r.seed())
	for i, s := range r.plan.Steps {
		if ctx.Err() != nil {
			r.skipFrom(i)
			return context.Cause(ctx)
		}
		r.mu.Lock()
		r.current, r.stepIdx = s.Name, i+1
		r.mu.Unlock()
		rec := stepRecord{step: s, kind: s.Kind(), start: time.Now(), status: reports.StatusPassed, target: targetString(s.Target)}
		names, err := r.resolveStep(ctx, s)
		if err == nil {
			rec.target = resolvedTarget(s.Target, names)
		}
		r.event(uptime.Event{At: rec.start, Kind: uptime.StepStarted, Step: s.Name, Target: rec.target})
		log.Info("step", "n", i+1, "of", len(r.plan.Steps), "name", s.Name, "kind", rec.kind, "targets", names)
		if err == nil {
			err = r.runStep(ctx, s, &rec)
		}
		rec.end = time.Now()
		if rec.impactEnd.IsZero() {
			rec.impactEnd = rec.end
		}
		r.event(uptime.Event{At: rec.end, Kind: uptime.StepFinished, Step: s.Name, Target: rec.target, Detail: rec.status})
		if rec.status == reports.StatusFailed {
			log.Warn("step deviated", "name", s.Name, "reason", rec.err)
		} else if rec.detail != "" {
			log.Info("step done", "name", s.Name, "status", rec.status, "detail", rec.detail, "took", rec.end.Sub(rec.start).Round(time.Millisecond))
		}
		if err == nil {
			r.record(rec)
			continue
		}
		if ctx.Err() != nil {
			rec.status, rec.err = reports.StatusSkipped, "aborted: "+context.Cause(ctx).Error()
			r.record(rec)
			r.skipFrom(i + 1)
			return context.Cause(ctx)
		}
		rec.status, rec.err = reports.StatusError, err.Error()
		r.record(rec)
		log.Error("step broke", "name", s.Name, "err", err)
		r.skipFrom(i + 1)
		return fmt.Errorf("step %q: %w", s.Name, err)
	}
	return nil
}

func (r *Runner) record(rec stepRecord) {
	storeStepWindow(&r.shared, rec)
	r.mu.Lock()
	r.steps = append(r.steps, rec)
	r.mu.Unlock()
}

func (r *Runner) skipFrom(i int) {
	now := time.Now()
	for _, s := range r.plan.Steps[i:] {
		r.record(stepRecord{step: s, kind: s.Kind(), start: now, end: now, status: reports.StatusSkipped, err: "not run", target: targetString(s.Target)})
	}
}

func (r *Runner) event(e uptime.Event) { r.traffic.event(e) }

// runStep executes one step; a timed-out await or a deviation sets
// rec.status to failed without returning an error.
func (r *Runner) runStep(ctx context.Context, s plan.Step, rec *stepRecord) error {
	switch rec.kind {
	case plan.StepWait:
		return sleep(ctx, s.Wait.D())
	case plan.StepFault:
		return r.runFault(ctx, s, rec)
	case plan.StepRevert:
		return r.revertStep(context.WithoutCancel(ctx), s.Revert, rec)
	case plan.StepAwait:
		return r.runAwait(ctx, s, rec)
	case plan.StepAction:
		return r.runAction(ctx, s, rec)
	}
	return fmt.Errorf("unknown step kind %q", rec.kind)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

func targetString(t *plan.Target) string {
	if t == nil {
		return ""
	}
	return t.String()
}

func (r *Runner) runAction(ctx context.Context, s plan.Step, rec *stepRecord) error {
	a, ok := LookupAction(s.Action)
	if !ok {
		return fmt.Errorf("action %q: no implementation in this build", s.Action)
	}
	if s.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.Timeout.D())
		defer cancel()
	}
	r.event(uptime.Event{Kind: uptime.ActionStarted, Step: s.Name, Target: rec.target, Detail: s.Action})
	watched := r.hurtByAction(ctx, s, time.Now())
	defer func() { r.releaseAll(watched, time.Now()) }()
	env := &ActionEnv{Plan: r.plan, Stack: r.stack, Log: r.o.log.With("action", s.Action),
		Traffic: r.traffic.log, Event: r.event, StateDir: r.o.stateDir, Shared: &r.shared, Journal: r.journal}
	out, err := a.Run(ctx, env, s)
	r.event(uptime.Event{Kind: uptime.ActionDone, Step: s.Name, Target: rec.target, Detail: s.Action})
	if out != nil {
		rec.detail = out.Detail
		if out.Failed {
			rec.status, rec.err = reports.StatusFailed, out.Detail
		}
		r.mu.Lock()
		r.outcomes = append(r.outcomes, out)
		r.mu.Unlock()
	}
	return err
}
