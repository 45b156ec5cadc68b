package drill

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/drill/plan"
	"github.com/aiuptime/aiuptime/recovery"
	"github.com/aiuptime/aiuptime/reports"
	"github.com/aiuptime/aiuptime/uptime"
)

// heldFault is an injection in force, until its step's duration ends, a
// revert step or the end of the drill.
type heldFault struct {
	inj    *chaos.Injection
	target string
	start  time.Time
	kind   string
	// watch is the target's direct watch, held until the revert (nil for
	// instant faults and unwatched services).
	watch *recovery.Watch
}

// faultEnv is what the fault kinds build with.
func (r *Runner) faultEnv() chaos.Env {
	return chaos.Env{Stack: r.stack, Kernel: r.kernel, Journal: r.journal, Log: r.o.log, RunID: r.runID}
}

// planFaults decodes a fault step and plans one fault per target.
func (r *Runner) planFaults(ctx context.Context, s plan.Step, env chaos.Env) ([]*chaos.Planned, error) {
	k, err := chaos.LookupKind(s.Fault)
	if err != nil {
		return nil, err
	}
	spec, err := k.Decode(s.Params)
	if err != nil {
		return nil, err
	}
	names, err := r.pick(ctx, s.Target)
	if err != nil {
		return nil, err
	}
	out := make([]*chaos.Planned, len(names))
	for i, n := range names {
		out[i] = chaos.Plan(env, spec, n)
	}
	return out, nil
}

func (r *Runner) runFault(ctx context.Context, s plan.Step, rec *stepRecord) error {
	fs, err := r.planFaults(ctx, s, r.faultEnv())
	if err != nil {
		return fmt.Errorf("build %s: %w", s.Fault, err)
	}
	var held []*heldFault
	var mechs []string
	for _, f := range fs {
		// The fault acts from the moment its injection begins (a stop
		// takes the server down at its SIGTERM, not when docker returns).
		// The target is watched directly from just before.
		began := time.Now()
		instant := f.Instant()
		w := r.comps.hurt(ctx, s.Name, "fault:"+s.Fault, f.Target(), began, !instant)
		inj, err := r.guard.Inject(ctx, f)
		r.comps.touch(w, time.Now())
		if inj != nil {
			h := &heldFault{inj: inj, target: f.Target(), start: time.Now(), kind: s.Fault}
			if !instant {
				h.watch = w
			}
			held = append(held, h)
			mechs = append(mechs, inj.Mechanism)
		} else if !instant {
			r.comps.release(w, time.Now())
		}
		if err != nil {
			r.hold(s.Name, held)
			return fmt.Errorf("inject %s on %s: %w", s.Fault, f.Target(), err)
		}
		r.event(uptime.Event{At: began, Kind: uptime.FaultInjected, Step: s.Name, Target: f.Target(), Detail: inj.Mechanism})
		r.o.log.Info("fault injected", "kind", s.Fault, "target", f.Target(), "mechanism", inj.Mechanism, "took", inj.Injected)
	}
	rec.mechanism = strings.Join(uniq(mechs), ",")
	if len(fs) > 0 && fs[0].Instant() {
		// Done the moment it is applied (a signal, a restart): nothing stays
		// in force, so it is a marker on the timeline, not a window.
		return r.revertHeld(context.WithoutCancel(ctx), s.Name, held)
	}
	r.hold(s.Name, held)
	if s.Duration == 0 {
		return nil
	}
	werr := sleep(ctx, s.Duration.D())
	r.mu.Lock()
	delete(r.held, s.Name)
	r.mu.Unlock()
	rerr := r.revertHeld(context.WithoutCancel(ctx), s.Name, held)
	rec.impactEnd = time.Now()
	if rerr != nil {
		return rerr
	}
	return werr
}

func uniq(ss []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range ss {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func (r *Runner) hold(step string, hs []*heldFault) {
	if len(hs) == 0 {
		return
	}
	r.mu.Lock()
	r.held[step] = append(r.held[step], hs...)
	r.mu.Unlock()
}

// revertHeld reverts injections of one step and records their windows.
func (r *Runner) revertHeld(ctx context.Context, step string, hs []*heldFault) error {
	var errs []error
	for _, h := range hs {
		err := h.inj.Revert(ctx)
		end := time.Now()
		r.comps.release(h.watch, end)
		r.mu.Lock()
		r.windows = append(r.windows, reports.FaultWindow{Step: step, Kind: h.kind, Target: h.target, Start: h.start, End: end})
		r.mu.Unlock()
		if err != nil {
			errs = append(errs, fmt.Errorf("revert %s on %s: %w", h.kind, h.target, err))
			continue
		}
		r.event(uptime.Event{At: end, Kind: uptime.FaultReverted, Step: step, Target: h.target, Detail: h.inj.Mechanism})
	}
	return errors.Join(errs...)
}

// revertStep reverts the faults a named earlier step left in force.
func (r *Runner) revertStep(ctx context.Context, name string, rec *stepRecord) error {
	r.mu.Lock()
	hs := r.held[name]
	delete(r.held, name)
	r.mu.Unlock()
	if len(hs) == 0 {
		rec.detail = "nothing in force"
		return nil
	}
	err := r.revertHeld(ctx, name, hs)
	// The reverted fault's impact ends here.
	r.mu.Lock()
	for i := range r.steps {
		if r.steps[i].step.Name == name {
			r.steps[i].impactEnd = time.Now()
		}
	}
	r.mu.Unlock()
	return err
}

// revertAll reverts every fault still held, then asks the guard for
// anything it still holds (a half-applied injection).
func (r *Runner) revertAll(ctx context.Context) error {
	r.mu.Lock()
	names := make([]string, 0, len(r.held))
	for n := range r.held {
		names = append(names, n)
	}
	r.mu.Unlock()
	var errs []error
	for _, n := range names {
		var rec stepRecord
		if err := r.revertStep(ctx, n, &rec); err != nil {
			errs = append(errs, err)
		}
	}
	if r.guard != nil {
		if err := r.guard.RevertAll(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		r.o.log.Error("revert failed", "err", err)
		return err
	}
	return nil
}
