package drill

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aiuptime/aiuptime/drill/plan"
	"github.com/aiuptime/aiuptime/param"
	"github.com/aiuptime/aiuptime/reports"
	"github.com/aiuptime/aiuptime/rollout"
)

// Keys of ActionEnv.Shared used by the built-in actions.
const (
	SharedLastRollout = "rollout.undo"      // the last rollout's undo: *rollout.Undo, or a Deployment rollout's
	SharedLastBackup  = "backup.dir"        // string: the last backup's directory
	SharedBackupAt    = "backup.created_at" // time.Time
)

func init() {
	// The updates take a verified backup first (actions_update.go).
	RegisterAction("rolling-update", withBackup(actRolling))
	RegisterAction("blue-green", withBackup(actBlueGreen))
	RegisterAction("canary", withBackup(actCanary))
	RegisterAction("model-update", withBackup(actRolling))
	RegisterAction("rollback", ActionFunc(actRollback))
	RegisterAction("gateway-update", withBackup(actGatewayUpdate))
	RegisterAction("backup", ActionFunc(actBackup))
	RegisterAction("restore", ActionFunc(actRestore))
}

// params decodes a step's params with its action kind's table (validation
// already accepted them; this is the one parser).
func params(step plan.Step) (param.Values, error) {
	k, err := plan.LookupAction(step.Action)
	if err != nil {
		return param.Values{}, err
	}
	return param.Decode(k.Name, k.Params, step.Params)
}

func release(v param.Values) rollout.Release {
	return rollout.Release{Image: v.String("image"), ModelVersion: v.String("version"), Args: strings.Fields(v.String("args"))}
}

func rollouter(ctx context.Context, env *ActionEnv, v param.Values) (*rollout.Rollouter, error) {
	opts := []rollout.Option{rollout.WithLogger(env.Log)}
	if env.Traffic != nil {
		t := env.Traffic
		opts = append(opts, rollout.WithTraffic(func(from, to time.Time, backend string) rollout.Stats {
			s := t.Stats(from, to, backend, backend == "")
			return rollout.Stats{Total: s.Total, Failed: s.Failed, ErrorRate: s.ErrorRate, P50: s.P50, P95: s.P95}
		}))
	}
	if d := v.Duration("drain_timeout"); d > 0 {
		opts = append(opts, rollout.WithDrainTimeout(d))
	}
	return rollout.New(ctx, env.Stack, opts...)
}

// targetNames is the services the step's target resolved to when the step
// started (nil: no target, the action's default).
func targetNames(_ context.Context, env *ActionEnv, step plan.Step) ([]string, error) {
	if step.Target == nil {
		return nil, nil
	}
	if names := StepTargets(env, step.Name); len(names) > 0 {
		return names, nil
	}
	return nil, fmt.Errorf("step %q: its targets were not resolved before it ran", step.Name)
}

func outcome(rep *reports.Rollout, err error) (*ActionOutcome, error) {
	if rep == nil {
		return nil, err
	}
	o := &ActionOutcome{Rollout: rep, Detail: fmt.Sprintf("%s %s: %s, %d failed requests", rep.Kind, rep.Target, rep.Decision, rep.FailedRequests)}
	if err != nil {
		o.Failed = true
		o.Detail += ": " + err.Error()
	}
	return o, nil
}

// setup decodes the params and builds the rollouter every rollout needs.
func setup(ctx context.Context, env *ActionEnv, step plan.Step) (param.Values, *rollout.Rollouter, error) {
	v, err := params(step)
	if err != nil {
		return v, nil, err
	}
	r, err := rollouter(ctx, env, v)
	return v, r, err
}

func keepUndo(env *ActionEnv, u *rollout.Undo) {
	if u != nil {
		env.Shared.Store(SharedLastRollout, u)
	}
}

func actRolling(ctx context.Context, env *ActionEnv, step plan.Step) (*ActionOutcome, error) {
	if dr, ok := env.Stack.(deploymentRoller); ok {
		v, err := params(step)
		if err != nil {
			return nil, err
		}
		return actKubeRolling(ctx, env, step, dr, v)
	}
	v, r, err := setup(ctx, env, step)
	if err != nil {
		return nil, err
	}
	names, err := targetNames(ctx, env, step)
	if err != nil {
		return nil, err
	}
	res, err := r.RollingUpdate(ctx, names, release(v))
	if res == nil {
		return nil, err
	}
	keepUndo(env, res.Undo)
	want := v.String("expect")
	if err == nil && res.Report.FailedRequests > 0 && want != rollout.DecisionRolledBack {
		res.Report.Evidence = append(res.Report.Evidence, "the bar is zero failed requests")
		o, _ := outcome(res.Report, nil)
		o.Failed = true
		return o, nil
	}
	o, oerr := outcome(res.Report, err)
	if o != nil && want != "" {
		o.Failed = want != res.Report.Decision
		if o.Failed {
			o.Detail += fmt.Sprintf(" (expected %s)", want)
		}
	}
	return o, oerr
}

func actBlueGreen(ctx context.Context, env *ActionEnv, step plan.Step) (*ActionOutcome, error) {
	if sw, ok := env.Stack.(selectorSwitcher); ok {
		v, err := params(step)
		if err != nil {
			return nil, err
		}
		return actKubeBlueGreen(ctx, env, sw, v)
	}
	v, r, err := setup(ctx, env, step)
	if err != nil {
		return nil, err
	}
	res, err := r.BlueGreen(ctx, release(v), v.Duration("rollback_after"))
	if res == nil {
		return nil, err
	}
	keepUndo(env, res.Undo)
	return outcome(res.Report, err)
}

func actCanary(ctx context.Context, env *ActionEnv, step plan.Step) (*ActionOutcome, error) {
	v, r, err := setup(ctx, env, step)
	if err != nil {
		return nil, err
	}
	an := rollout.DefaultAnalysis()
	an.Interval = v.Duration("interval")
	an.MaxErrorRateDelta = v.Percent("max_error_rate_increase").Fraction()
	an.MaxP95Factor = 1 + v.Percent("max_p95_increase").Fraction()
	an.MinSamples = int(v.Int("min_samples"))
	var steps []float64
	for _, f := range strings.FieldsFunc(v.String("steps"), func(r rune) bool { return r == ',' || r == '/' || r == ' ' }) {
		p, err := strconv.ParseFloat(strings.TrimSuffix(f, "%"), 64)
		if err != nil || p <= 0 || p > 100 {
			return nil, fmt.Errorf("params.steps: bad percentage %q", f)
		}
		steps = append(steps, p)
	}
	res, err := r.Canary(ctx, release(v), steps, an, v.String("promote") != "keep")
	if res == nil {
		return nil, err
	}
	keepUndo(env, res.Undo)
	if a, ok := env.Stack.(interface{ AdoptService(string) error }); ok && res.Promoted && v.String("promote") == "keep" {
		// The canary serves alone now: a later cleanup must not remove it.
		if aerr := a.AdoptService(rollout.DefaultCanaryService); aerr != nil {
			env.Log.Warn("canary kept but its journal record stays", "err", aerr)
		}
	}
	o, _ := outcome(res.Report, err)
	if want := v.String("expect"); want != "" && err == nil && want != res.Report.Decision {
		o.Failed = true
		o.Detail += fmt.Sprintf(" (expected %s)", want)
	}
	return o, nil
}

func actRollback(ctx context.Context, env *ActionEnv, _ plan.Step) (*ActionOutcome, error) {
	v, ok := env.Shared.LoadAndDelete(SharedLastRollout)
	if !ok {
		return nil, fmt.Errorf("rollback: no earlier rollout in this drill to undo")
	}
	u, ok := v.(interface {
		Run(ctx context.Context) (*reports.Rollout, error)
	})
	if !ok {
		return nil, fmt.Errorf("rollback: the last rollout (%T) cannot be undone", v)
	}
	rep, err := u.Run(ctx)
	return outcome(rep, err)
}

func actGatewayUpdate(ctx context.Context, env *ActionEnv, step plan.Step) (*ActionOutcome, error) {
	if dr, ok := env.Stack.(deploymentRoller); ok {
		v, err := params(step)
		if err != nil {
			return nil, err
		}
		return actKubeGatewayUpdate(ctx, env, step, dr, v)
	}
	v, r, err := setup(ctx, env, step)
	if err != nil {
		return nil, err
	}
	rep, err := r.GatewayUpdate(ctx, release(v))
	o, oerr := outcome(rep, err)
	if want := v.String("expect"); o != nil && want != "" && want != rep.Decision {
		o.Failed = true
		o.Detail += fmt.Sprintf(" (expected %s)", want)
	}
	return o, oerr
}
