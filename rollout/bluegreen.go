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
	blueSvcs, err := r.blueServices(ctx)
	if err != nil {
		return nil, err
	}
	k := &blueGreen{r: r, start: time.Now()}
	rep := &reports.Rollout{Kind: "blue-green", Target: "model", To: rel.String()}
	if v := stack.ServiceVersion(ctx, blueSvcs[0]); v.Version != "" {
		rep.From = v.String()
	}
	k.res = &BlueGreenResult{Report: rep}
	for _, b := range blueSvcs {
		d, err := r.admin.Model(ctx, depID(b))
		if err != nil {
			return nil, fmt.Errorf("blue-green: blue %s: %w", b.Name, err)
		}
		k.blueDeps = append(k.blueDeps, d)
		want, err := r.golden(ctx, b)
		if err != nil {
			return nil, fmt.Errorf("blue-green: blue %s: %w", b.Name, err)
		}
		if err := k.startGreen(ctx, b, rel, want); err != nil {
			return k.res, err
		}
	}
	rep.Evidence = append(rep.Evidence, fmt.Sprintf("green set %s verified in %.1fs", strings.Join(k.res.Green, ","), time.Since(k.start).Seconds()))
	if err := k.switchToGreen(ctx); err != nil {
		return k.res, err
	}
	if rollbackAfter > 0 {
		if err := k.rollBackAfter(ctx, rollbackAfter); err != nil {
			return k.res, err
		}
	}
	r.finish(rep, k.start)
	return k.res, nil
}

// blueServices are the model services that are not green twins.
func (r *Rollouter) blueServices(ctx context.Context) ([]stack.Service, error) {
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
	return blueSvcs, nil
}

// blueGreen is one blue-green deployment under way.
type blueGreen struct {
	r         *Rollouter
	blueDeps  []Deployment    // blue's gateway deployments, as read before the switch
	greenSvcs []stack.Service // the green services started (or attempted)
	greenDeps []Deployment    // green's gateway deployments, from the switch on
	start     time.Time
	res       *BlueGreenResult
}

// startGreen starts blue b's green twin with rel and verifies it: health,
// then the golden prompt against blue's answer want (a change is allowed
// when the model version changes). On failure it removes every green
// service so far (decision aborted; blue untouched).
func (k *blueGreen) startGreen(ctx context.Context, b stack.Service, rel Release, want string) error {
	rep := k.res.Report
	g, err := k.r.rep.AddService(ctx, b.Name+GreenSuffix, stack.RoleModel, rel.Options()...)
	if g.Name != "" {
		k.greenSvcs = append(k.greenSvcs, g)
	}
	if err == nil {
		err = WaitHealthy(ctx, g, k.r.o.healthTO)
	}
	var got string
	if err == nil {
		got, err = k.r.golden(ctx, g)
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
			k.greenSvcs = append(k.greenSvcs, stack.Service{Name: b.Name + GreenSuffix})
		}
		k.cleanGreen(ctx)
		rep.Decision = DecisionAborted
		rep.Evidence = append(rep.Evidence, "green "+b.Name+GreenSuffix+" failed verification: "+err.Error())
		rep.DurationSeconds = time.Since(k.start).Seconds()
		return fmt.Errorf("blue-green: verify green %s%s (blue untouched): %w", b.Name, GreenSuffix, err)
	}
	k.res.Green = append(k.res.Green, g.Name)
	return nil
}

// switchToGreen swaps the gateway from blue to green, timed (decision
// promoted), and sets the undo that swaps back. A failed switch is reversed
// and green removed (decision aborted).
func (k *blueGreen) switchToGreen(ctx context.Context) error {
	r, rep := k.r, k.res.Report
	k.greenDeps = make([]Deployment, len(k.greenSvcs))
	for i, g := range k.greenSvcs {
		k.greenDeps[i] = r.deploymentFor(g, 1)
	}
	sw := time.Now()
	if err := r.swap(ctx, k.greenDeps, k.blueDeps); err != nil {
		rep.Decision = DecisionAborted
		_ = r.swap(context.WithoutCancel(ctx), k.blueDeps, k.greenDeps)
		k.cleanGreen(ctx)
		return fmt.Errorf("blue-green: switch: %w", err)
	}
	rep.SwitchSeconds = secs(time.Since(sw))
	rep.Evidence = append(rep.Evidence, fmt.Sprintf("switched to green in %.3fs; blue kept running for rollback", *rep.SwitchSeconds))
	rep.Decision = DecisionPromoted
	k.res.Undo = &Undo{Kind: "blue-green", Target: "model", run: func(uctx context.Context) error {
		if err := r.swap(uctx, k.blueDeps, k.greenDeps); err != nil {
			return err
		}
		k.cleanGreen(ctx)
		return nil
	}}
	return nil
}

// rollBackAfter waits d (or until ctx ends), then swaps the gateway back to
// blue, timed (decision rolled-back), and removes green.
func (k *blueGreen) rollBackAfter(ctx context.Context, d time.Duration) error {
	rep := k.res.Report
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
	rb := time.Now()
	if err := k.r.swap(context.WithoutCancel(ctx), k.blueDeps, k.greenDeps); err != nil {
		rep.Decision = DecisionAborted
		return fmt.Errorf("blue-green: roll back: %w", err)
	}
	rep.RollbackSeconds = secs(time.Since(rb))
	rep.Evidence = append(rep.Evidence, fmt.Sprintf("rolled back to blue in %.3fs", *rep.RollbackSeconds))
	rep.Decision = DecisionRolledBack
	k.cleanGreen(ctx)
	k.res.Undo = nil
	return nil
}

// cleanGreen removes the green services, ignoring errors, even when ctx is
// cancelled.
func (k *blueGreen) cleanGreen(ctx context.Context) {
	for _, g := range k.greenSvcs {
		_ = k.r.rep.RemoveService(context.WithoutCancel(ctx), g.Name)
	}
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
