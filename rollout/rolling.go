package rollout

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aiuptime/aiuptime/reports"
	"github.com/aiuptime/aiuptime/stack"
)

// ReplicaTiming is how long one replica of a rolling update took.
type ReplicaTiming struct {
	Service        string
	Drain, Replace time.Duration
	Verify, Total  time.Duration
	GoldenChanged  bool
}

// RollingResult is a rolling update's report plus per-replica timings and
// the undo of a completed update.
type RollingResult struct {
	Report   *reports.Rollout
	Replicas []ReplicaTiming
	Undo     *Undo
}

// RollingUpdate replaces targets (model service names; all model services
// when empty) one at a time with rel. See the package doc for the steps.
// A bad image fails before anything is touched (ErrImageNotFound). A replica
// failing its health or golden check stops the rollout; the replicas already
// replaced (and the failing one) are rolled back and the decision is
// rolled-back, with the error returned.
func (r *Rollouter) RollingUpdate(ctx context.Context, targets []string, rel Release) (*RollingResult, error) {
	if err := r.checkRelease(ctx, rel); err != nil {
		return nil, err
	}
	svcs, err := r.pick(ctx, targets)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(svcs))
	for i, s := range svcs {
		names[i] = s.Name
	}
	start := time.Now()
	res := &RollingResult{Report: &reports.Rollout{Kind: "rolling-update", Target: strings.Join(names, ","), To: rel.String()}}
	rep := res.Report
	if v := stack.ServiceVersion(ctx, svcs[0]); v.Version != "" {
		rep.From = v.String()
	}
	// Golden answers before anything changes.
	before := map[string]string{}
	for _, s := range svcs {
		a, err := r.golden(ctx, s)
		if err != nil {
			return nil, fmt.Errorf("rolling update: golden prompt before the update: %w", err)
		}
		before[s.Name] = a
	}
	var done []string
	var stopErr error
	for _, s := range svcs {
		t, err := r.replaceOne(ctx, s, rel, before[s.Name], rep)
		if t != nil {
			res.Replicas = append(res.Replicas, *t)
		}
		done = append(done, s.Name) // the failing one is rolled back too
		if err != nil {
			stopErr = err
			break
		}
	}
	if stopErr != nil {
		rep.Evidence = append(rep.Evidence, "stopped: "+stopErr.Error())
		rb := time.Now()
		if err := r.rollBackReplicas(context.WithoutCancel(ctx), done); err != nil {
			rep.Evidence = append(rep.Evidence, "rollback failed: "+err.Error())
			stopErr = errors.Join(stopErr, err)
			rep.Decision = DecisionAborted
		} else {
			rep.Decision = DecisionRolledBack
		}
		rep.RollbackSeconds = secs(time.Since(rb))
		r.finish(rep, start)
		return res, fmt.Errorf("rolling update stopped and rolled back: %w", stopErr)
	}
	rep.Decision = DecisionCompleted
	r.finish(rep, start)
	rep.Evidence = append(rep.Evidence, fmt.Sprintf("%d replicas in %.1fs (%.1fs per replica); %d failed requests seen by the probe",
		len(svcs), rep.DurationSeconds, rep.DurationSeconds/float64(len(svcs)), rep.FailedRequests))
	res.Undo = &Undo{Kind: "rolling-update", Target: rep.Target, run: func(ctx context.Context) error {
		_, err := r.RollingUpdate(ctx, names, Release{})
		return err
	}}
	if rel.ModelVersion != "" {
		// Undo goes back to the stack's configured model, which ReplaceService
		// without options does.
		res.Undo.run = func(ctx context.Context) error { return r.rollBackReplicas(ctx, names) }
	}
	return res, nil
}

func (r *Rollouter) pick(ctx context.Context, targets []string) ([]stack.Service, error) {
	if len(targets) == 0 {
		svcs, err := ModelServices(ctx, r.st)
		if err != nil {
			return nil, err
		}
		if len(svcs) == 0 {
			return nil, fmt.Errorf("no model services: %w", stack.ErrNotFound)
		}
		return svcs, nil
	}
	var out []stack.Service
	for _, n := range targets {
		s, err := r.st.Service(ctx, n)
		if err != nil {
			return nil, fmt.Errorf("rollout target %s: %w", n, err)
		}
		if s.Role != stack.RoleModel {
			return nil, fmt.Errorf("rollout target %s has role %s, want model", n, s.Role)
		}
		out = append(out, s)
	}
	return out, nil
}

func (r *Rollouter) replaceOne(ctx context.Context, s stack.Service, rel Release, golden string, rep *reports.Rollout) (*ReplicaTiming, error) {
	t := &ReplicaTiming{Service: s.Name}
	t0 := time.Now()
	id := depID(s)
	dep, err := r.admin.Model(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.Name, err)
	}
	all, err := r.admin.Models(ctx)
	if err == nil && len(all) < 2 {
		rep.Evidence = append(rep.Evidence, s.Name+": the only deployment: taking it out interrupts service")
	}
	if err := r.admin.Delete(ctx, id); err != nil {
		return nil, fmt.Errorf("%s: take out of the gateway: %w", s.Name, err)
	}
	// From here on the deployment must come back, whatever happens.
	back := func() error { return r.readd(context.WithoutCancel(ctx), dep) }
	r.o.log.Info("rolling update: taken out", "service", s.Name)
	if t.Drain, err = Drain(ctx, s.URL, r.o.drainTimeout); err != nil {
		r.o.log.Warn("rolling update: drain incomplete, replacing anyway (SIGTERM drains the rest)", "service", s.Name, "err", err)
		rep.Evidence = append(rep.Evidence, s.Name+": "+err.Error())
	}
	tr := time.Now()
	ns, err := r.rep.ReplaceService(ctx, s.Name, rel.Options()...)
	t.Replace = time.Since(tr)
	if err != nil {
		_ = back()
		return t, fmt.Errorf("%s: replace: %w", s.Name, err)
	}
	tv := time.Now()
	if err := WaitHealthy(ctx, ns, r.o.healthTO); err != nil {
		_ = back()
		return t, fmt.Errorf("%s: %w", s.Name, err)
	}
	a, err := r.golden(ctx, ns)
	if err != nil {
		_ = back()
		return t, fmt.Errorf("%s: %w", s.Name, err)
	}
	t.Verify = time.Since(tv)
	if a != golden {
		if rel.ModelVersion == "" {
			_ = back()
			return t, fmt.Errorf("%s: %w: before %q, after %q", s.Name, ErrGoldenMismatch, golden, a)
		}
		t.GoldenChanged = true
		rep.Evidence = append(rep.Evidence, s.Name+": golden answer changed with model version "+rel.ModelVersion+" (allowed)")
	}
	if err := back(); err != nil {
		return t, fmt.Errorf("%s: put back into the gateway: %w", s.Name, err)
	}
	t.Total = time.Since(t0)
	rep.Evidence = append(rep.Evidence, fmt.Sprintf("%s: drain %.2fs, replace %.2fs, verify %.2fs, total %.2fs",
		s.Name, t.Drain.Seconds(), t.Replace.Seconds(), t.Verify.Seconds(), t.Total.Seconds()))
	r.o.log.Info("rolling update: replica done", "service", s.Name, "seconds", t.Total.Seconds())
	return t, nil
}

// rollBackReplicas puts each named replica back on the stack's configured
// release (ReplaceService without options), one at a time, taking it out of
// the gateway meanwhile when it is registered.
func (r *Rollouter) rollBackReplicas(ctx context.Context, names []string) error {
	var errs []error
	for _, n := range names {
		s, err := r.st.Service(ctx, n)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		dep, derr := r.admin.Model(ctx, depID(s))
		if derr == nil {
			if err := r.admin.Delete(ctx, depID(s)); err != nil {
				errs = append(errs, err)
			}
			_, _ = Drain(ctx, s.URL, r.o.drainTimeout)
		}
		ns, err := r.rep.ReplaceService(ctx, n)
		if err == nil {
			err = WaitHealthy(ctx, ns, r.o.healthTO)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("roll back %s: %w", n, err))
		}
		if derr == nil {
			if err := r.readd(ctx, dep); err != nil {
				errs = append(errs, err)
			}
		} else if errors.Is(derr, ErrNoDeployment) {
			if err := r.admin.Add(ctx, r.deploymentFor(ns, 1)); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
