package rollout

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aiuptime/aiuptime/reports"
	"github.com/aiuptime/aiuptime/stack"
)

// GreenSuffix is appended to a blue service's name for its green twin.
const GreenSuffix = "-green"

// BlueGreenResult is a blue-green deployment's report and its undo (switch
// back to blue, which is still running).
type BlueGreenResult struct {
	Report *reports.Rollout
	Green  []string
	Undo   *Undo
}

// BlueGreen starts a green twin of every model service beside it with rel,
// verifies each (health, golden prompt against blue's answer unless the
// model version changes), then switches the gateway: every green deployment
// is added and every blue one deleted in one admin step (LiteLLM has no
// transactional swap; adding first means both verified sets serve for the
// few milliseconds in between, never none). Blue keeps running, so the
// rollback is the reverse admin step. With rollbackAfter > 0 the rollback is
// performed after that long and timed. A verification failure removes green
// and leaves blue untouched (decision aborted).
func (r *Rollouter) BlueGreen(ctx context.Context, rel Release, rollbackAfter time.Duration) (*BlueGreenResult, error) {
	if err := r.checkRelease(ctx, rel); err != nil {
		return nil, err
	}
	blue, err := ModelServices(ctx, r.st)
	if err != nil {
		return nil, err
	}
	var blueSvcs []stack.Service
	for _, s := range blue {
		if !strings.HasSuffix(s.Name, GreenSuffix) {
			blueSvcs = append(blueSvcs, s)
		}
	}
	if len(blueSvcs) == 0 {
		return nil, fmt.Errorf("blue-green: no model services: %w", stack.ErrNotFound)
	}
	start := time.Now()
	rep := &reports.Rollout{Kind: "blue-green", Target: "model", To: rel.String()}
	if v := stack.ServiceVersion(ctx, blueSvcs[0]); v.Version != "" {
		rep.From = v.String()
	}
	res := &BlueGreenResult{Report: rep}
	var blueDeps []Deployment
	var greenSvcs []stack.Service
	cleanGreen := func() {
		for _, g := range greenSvcs {
			_ = r.rep.RemoveService(context.WithoutCancel(ctx), g.Name)
		}
	}
	for _, b := range blueSvcs {
		d, err := r.admin.Model(ctx, depID(b))
		if err != nil {
			return nil, fmt.Errorf("blue-green: blue %s: %w", b.Name, err)
		}
		blueDeps = append(blueDeps, d)
		want, err := r.golden(ctx, b)
		if err != nil {
			return nil, fmt.Errorf("blue-green: blue %s: %w", b.Name, err)
		}
		g, err := r.rep.AddService(ctx, b.Name+GreenSuffix, stack.RoleModel, rel.Options()...)
		if g.Name != "" {
			greenSvcs = append(greenSvcs, g)
		}
		if err == nil {
			err = WaitHealthy(ctx, g, r.o.healthTO)
		}
		var got string
		if err == nil {
			got, err = r.golden(ctx, g)
		}
		if err == nil && got != want {
			if rel.ModelVersion == "" {
				err = fmt.Errorf("%w: blue %q, green %q", ErrGoldenMismatch, want, got)
			} else {
				rep.Evidence = append(rep.Evidence, g.Name+": golden answer changed with model version "+rel.ModelVersion+" (allowed)")
			}
		}
		if err != nil {
			if g.Name == "" {
				greenSvcs = append(greenSvcs, stack.Service{Name: b.Name + GreenSuffix})
			}
			cleanGreen()
			rep.Decision = DecisionAborted
			rep.Evidence = append(rep.Evidence, "green "+b.Name+GreenSuffix+" failed verification: "+err.Error())
			rep.DurationSeconds = time.Since(start).Seconds()
			return res, fmt.Errorf("blue-green: verify green %s%s (blue untouched): %w", b.Name, GreenSuffix, err)
		}
		res.Green = append(res.Green, g.Name)
	}
	rep.Evidence = append(rep.Evidence, fmt.Sprintf("green set %s verified in %.1fs", strings.Join(res.Green, ","), time.Since(start).Seconds()))
	greenDeps := make([]Deployment, len(greenSvcs))
	for i, g := range greenSvcs {
		greenDeps[i] = r.deploymentFor(g, 1)
	}
	sw := time.Now()
	if err := r.swap(ctx, greenDeps, blueDeps); err != nil {
		rep.Decision = DecisionAborted
		_ = r.swap(context.WithoutCancel(ctx), blueDeps, greenDeps)
		cleanGreen()
		return res, fmt.Errorf("blue-green: switch: %w", err)
	}
	rep.SwitchSeconds = secs(time.Since(sw))
	rep.Evidence = append(rep.Evidence, fmt.Sprintf("switched to green in %.3fs; blue kept running for rollback", *rep.SwitchSeconds))
	rep.Decision = DecisionPromoted
	res.Undo = &Undo{Kind: "blue-green", Target: "model", run: func(ctx context.Context) error {
		if err := r.swap(ctx, blueDeps, greenDeps); err != nil {
			return err
		}
		cleanGreen()
		return nil
	}}
	if rollbackAfter > 0 {
		select {
		case <-ctx.Done():
		case <-time.After(rollbackAfter):
		}
		rb := time.Now()
		if err := r.swap(context.WithoutCancel(ctx), blueDeps, greenDeps); err != nil {
			rep.Decision = DecisionAborted
			return res, fmt.Errorf("blue-green: roll back: %w", err)
		}
		rep.RollbackSeconds = secs(time.Since(rb))
		rep.Evidence = append(rep.Evidence, fmt.Sprintf("rolled back to blue in %.3fs", *rep.RollbackSeconds))
		rep.Decision = DecisionRolledBack
		cleanGreen()
		res.Undo = nil
	}
	rep.DurationSeconds = time.Since(start).Seconds()
	rep.FailedRequests = r.failed(start, time.Now())
	return res, nil
}

// swap adds in (every deployment) and then deletes out, so that the group is
// never empty. Deployments already present or absent are fine.
func (r *Rollouter) swap(ctx context.Context, in, out []Deployment) error {
	var errs []error
	present, err := r.admin.Models(ctx)
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, d := range present {
		have[d.ID()] = true
	}
	for _, d := range in {
		if have[d.ID()] {
			continue
		}
		if err := r.readd(ctx, d); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	for _, d := range out {
		if err := r.admin.Delete(ctx, d.ID()); err != nil && !IsStatus(err, http.StatusNotFound) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
