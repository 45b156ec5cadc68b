package drill

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/aiuptime/aiuptime/backup"
	"github.com/aiuptime/aiuptime/drill/plan"
	"github.com/aiuptime/aiuptime/param"
	"github.com/aiuptime/aiuptime/probe"
	"github.com/aiuptime/aiuptime/reports"
	"github.com/aiuptime/aiuptime/rollout"
	"github.com/aiuptime/aiuptime/stack"
)

// validate is the validation after an update: the functional checks
// (every service healthy, the golden prompt, a real completion through
// the gateway) and the performance comparison of the probe's traffic
// after the update against a baseline step of the same run.

func init() {
	RegisterAction("validate", ActionFunc(actValidate))
}

// Bounds of validate's functional checks.
const (
	// validateHealthTimeout bounds the wait for every service to answer
	// its health check.
	validateHealthTimeout = 30 * time.Second
	// ValidationPrompt is the prompt of the completion sent through the
	// gateway.
	ValidationPrompt = "aiuptime validation: reply with one short sentence"
)

// Names of validate's functional checks.
const (
	CheckHealthy    = "every service healthy"
	CheckGolden     = "golden prompt"
	CheckCompletion = "chat completion through the gateway"
)

func actValidate(ctx context.Context, env *ActionEnv, step plan.Step) (*ActionOutcome, error) {
	v, err := params(step)
	if err != nil {
		return nil, err
	}
	val := &reports.Validation{Step: step.Name, Baseline: v.String("baseline"), After: step.Name}
	from, to := time.Now(), time.Now().Add(v.Duration("duration"))
	if a := v.String("after"); a != "" {
		var ok bool
		if from, to, ok = StepWindow(env, a); !ok {
			return nil, fmt.Errorf("validate: params.after: step %q has not run in this drill", a)
		}
		val.After = a
	} else if err := sleep(ctx, to.Sub(from)); err != nil {
		return nil, err
	}
	val.Checks = []reports.ValidationCheck{checkHealthy(ctx, env), checkGolden(ctx, env), checkCompletion(ctx, env)}
	if err := compareTraffic(ctx, env, v, val, from, to); err != nil {
		return nil, err
	}
	return validationOutcome(val), nil
}

// validationOutcome passes the validation when every check passed and no
// metric regressed; its detail names what failed.
func validationOutcome(val *reports.Validation) *ActionOutcome {
	var bad []string
	for _, c := range val.Checks {
		if !c.Passed {
			bad = append(bad, c.Name+" failed: "+c.Detail)
		}
	}
	regs := regressions(val.Comparison)
	for _, r := range regs {
		bad = append(bad, "regression: "+r.Detail)
	}
	val.Passed = len(bad) == 0
	o := &ActionOutcome{Validation: val, Failed: !val.Passed}
	if !val.Passed {
		o.Detail = strings.Join(bad, "; ")
		return o
	}
	compared, notMeasured := 0, 0
	for _, r := range val.Comparison {
		if r.Verdict == reports.ComparisonNotMeasured {
			notMeasured++
		} else {
			compared++
		}
	}
	o.Detail = fmt.Sprintf("validation passed: %d functional checks", len(val.Checks))
	if len(val.Comparison) > 0 {
		o.Detail += fmt.Sprintf(", %d metrics within tolerance of %q", compared, val.Baseline)
		if notMeasured > 0 {
			o.Detail += fmt.Sprintf(" (%d not measured)", notMeasured)
		}
	}
	return o
}

// checkHealthy polls the stack's health checks until every service passes.
func checkHealthy(ctx context.Context, env *ActionEnv) reports.ValidationCheck {
	hc := &http.Client{Timeout: 2 * time.Second}
	ok, why := poll(ctx, func(ctx context.Context, _ time.Time) (bool, string) {
		svcs, err := env.Stack.Services(ctx)
		if err != nil {
			return false, err.Error()
		}
		return servicesHealthy(ctx, hc, env.Stack, svcs)
	}, 1, validateHealthTimeout)
	if !ok {
		why = fmt.Sprintf("not within %s: %s", validateHealthTimeout, why)
	}
	return reports.ValidationCheck{Name: CheckHealthy, Passed: ok, Detail: why}
}

// checkGolden asks every model replica the golden prompt and compares its
// answer with the one the backup before the update recorded. A changed
// answer passes when the run's update moved to a new model version.
func checkGolden(ctx context.Context, env *ActionEnv) reports.ValidationCheck {
	c := reports.ValidationCheck{Name: CheckGolden, Passed: true}
	svcs, err := env.Stack.Services(ctx)
	if err != nil {
		c.Passed, c.Detail = false, "list services: "+err.Error()
		return c
	}
	recorded, from := recordedGolden(env)
	version, _ := env.Shared.Load(SharedModelVersion)
	var same, changed, unrecorded, failed []string
	for _, s := range svcs {
		if s.Role != stack.RoleModel || s.URL == "" {
			continue
		}
		a, err := askGolden(ctx, s, stack.ModelAPIKey(env.Stack))
		want, ok := recorded[s.Name]
		switch {
		case err != nil:
			failed = append(failed, fmt.Sprintf("%s: %v", s.Name, err))
		case !ok:
			unrecorded = append(unrecorded, s.Name)
		case a == want:
			same = append(same, s.Name)
		case version != nil:
			changed = append(changed, s.Name)
		default:
			failed = append(failed, fmt.Sprintf("%s answers %q, recorded %q", s.Name, a, want))
		}
	}
	var parts []string
	if len(same) > 0 {
		parts = append(parts, strings.Join(same, ", ")+": as recorded by "+from)
	}
	if len(changed) > 0 {
		parts = append(parts, fmt.Sprintf("%s: answer changed with model version %v (allowed: the run's update changed the model)", strings.Join(changed, ", "), version))
	}
	if len(unrecorded) > 0 {
		parts = append(parts, strings.Join(unrecorded, ", ")+": answered, no answer recorded before the update to compare with")
	}
	if len(failed) > 0 {
		c.Passed = false
		parts = append(parts, strings.Join(failed, "; "))
	}
	if len(parts) == 0 {
		c.Passed, parts = false, []string{"no model service with an address to ask"}
	}
	c.Detail = strings.Join(parts, "; ")
	return c
}

// recordedGolden returns the golden answers the backup before the update
// recorded (else the drill's last backup's), by service, and which backup.
func recordedGolden(env *ActionEnv) (map[string]string, string) {
	for _, src := range []struct{ key, name string }{{SharedUpdateBackup, "the backup before the update"}, {SharedLastBackup, "the drill's last backup"}} {
		dir, ok := env.Shared.Load(src.key)
		if !ok {
			continue
		}
		m, err := backup.Read(dir.(string))
		if err != nil {
			continue
		}
		info, _ := m.SourceInfo(backup.SourceState)
		out := map[string]string{}
		for k, a := range info.Meta {
			if name, ok := strings.CutPrefix(k, "golden."); ok {
				out[name] = a
			}
		}
		return out, src.name + " (" + filepath.Base(dir.(string)) + ")"
	}
	return nil, ""
}

// checkCompletion sends one real chat completion through the gateway with
// the gateway's key, with the official OpenAI client.
func checkCompletion(ctx context.Context, env *ActionEnv) reports.ValidationCheck {
	c := reports.ValidationCheck{Name: CheckCompletion}
	gw, err := probeTarget(ctx, env.Stack, "")
	if err != nil {
		c.Detail = err.Error()
		return c
	}
	if gw.ModelName == "" {
		gw.ModelName = env.Stack.ModelName()
	}
	tctx, cancel := context.WithTimeout(ctx, goldenTimeout)
	defer cancel()
	start := time.Now()
	a, err := rollout.Golden(tctx, gw, env.Stack.APIKey(), ValidationPrompt)
	took := time.Since(start).Round(time.Millisecond)
	switch {
	case err != nil:
		c.Detail = err.Error()
	case strings.TrimSpace(a) == "":
		c.Detail = fmt.Sprintf("%s answered an empty completion in %s", gw.Name, took)
	default:
		c.Passed, c.Detail = true, fmt.Sprintf("%s (model %s) answered %d characters in %s", gw.Name, gw.ModelName, len(a), took)
	}
	return c
}

// compareTraffic compares the probe's traffic in [from, to) with the
// baseline step's, once every request sent before to has had its probe
// timeout to finish.
func compareTraffic(ctx context.Context, env *ActionEnv, v param.Values, val *reports.Validation, from, to time.Time) error {
	base := v.String("baseline")
	switch {
	case base == "":
		val.Notes = append(val.Notes, "performance not compared: no params.baseline")
		return nil
	case env.Traffic == nil:
		val.Notes = append(val.Notes, "performance not compared: the drill has no probe traffic")
		return nil
	}
	bFrom, bTo, ok := StepWindow(env, base)
	if !ok {
		return fmt.Errorf("validate: params.baseline: step %q has not run in this drill", base)
	}
	timeout := probe.DefaultTimeout
	if env.Plan != nil && env.Plan.Probe.Timeout > 0 {
		timeout = env.Plan.Probe.Timeout.D()
	}
	if err := sleep(ctx, time.Until(to.Add(timeout))); err != nil {
		return err
	}
	cfg := compareConfig{tolerance: v.Percent("tolerance").Fraction(), minDelta: v.Duration("min_delta"),
		errFloor: v.Percent("max_error_rate_increase").Fraction(), minSamples: int(v.Int("min_samples"))}
	b, a := env.Traffic.Window(bFrom, bTo), env.Traffic.Window(from, to)
	val.Comparison = compareWindows(b, a, cfg)
	val.Notes = append(val.Notes, fmt.Sprintf("baseline %q: %d probe requests in %.1fs; after %q: %d in %.1fs",
		base, b.Total, bTo.Sub(bFrom).Seconds(), val.After, a.Total, to.Sub(from).Seconds()))
	return nil
}
