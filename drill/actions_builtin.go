package drill

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/aiuptime/aiuptime/backup"
	"github.com/aiuptime/aiuptime/reports"
	"github.com/aiuptime/aiuptime/rollout"
)

// Keys of ActionEnv.Shared used by the built-in actions.
const (
	SharedLastRollout = "rollout.undo"      // *rollout.Undo of the last rollout
	SharedLastBackup  = "backup.dir"        // string: the last backup's directory
	SharedBackupAt    = "backup.created_at" // time.Time
)

func init() {
	RegisterAction("rolling-update", ActionFunc(actRolling))
	RegisterAction("blue-green", ActionFunc(actBlueGreen))
	RegisterAction("canary", ActionFunc(actCanary))
	RegisterAction("model-update", ActionFunc(actModelUpdate))
	RegisterAction("rollback", ActionFunc(actRollback))
	RegisterAction("gateway-update", ActionFunc(actGatewayUpdate))
	RegisterAction("backup", ActionFunc(actBackup))
	RegisterAction("restore", ActionFunc(actRestore))
}

func pStr(p map[string]any, k string) string {
	if v, ok := p[k]; ok && v != nil {
		return fmt.Sprint(v)
	}
	return ""
}

func pDur(p map[string]any, k string, def time.Duration) (time.Duration, error) {
	s := pStr(p, k)
	if s == "" {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("param %s: %w", k, err)
	}
	return d, nil
}

func release(p map[string]any) rollout.Release {
	return rollout.Release{Image: pStr(p, "image"), ModelVersion: pStr(p, "version"), Args: strings.Fields(pStr(p, "args"))}
}

func rollouter(ctx context.Context, env *ActionEnv, p map[string]any) (*rollout.Rollouter, error) {
	opts := []rollout.Option{rollout.WithLogger(env.Log)}
	if env.Docker != nil {
		opts = append(opts, rollout.WithDocker(env.Docker))
	}
	if env.Traffic != nil {
		t := env.Traffic
		opts = append(opts, rollout.WithTraffic(func(from, to time.Time, backend string) rollout.Stats {
			s := t.Stats(from, to, backend, backend == "")
			return rollout.Stats{Total: s.Total, Failed: s.Failed, ErrorRate: s.ErrorRate, P50: s.P50, P95: s.P95}
		}))
	}
	d, err := pDur(p, "drain_timeout", 0)
	if err != nil {
		return nil, err
	}
	if d > 0 {
		opts = append(opts, rollout.WithDrainTimeout(d))
	}
	return rollout.New(ctx, env.Stack, opts...)
}

func targetNames(ctx context.Context, env *ActionEnv, step Step) ([]string, error) {
	if step.Target == nil {
		return nil, nil
	}
	svcs, err := env.Stack.Services(ctx)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(svcs))
	roles := map[string]string{}
	for i, s := range svcs {
		names[i] = s.Name
		roles[s.Name] = string(s.Role)
	}
	return step.Target.Pick(names, roles)
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

func actRolling(ctx context.Context, env *ActionEnv, step Step) (*ActionOutcome, error) {
	r, err := rollouter(ctx, env, step.Params)
	if err != nil {
		return nil, err
	}
	names, err := targetNames(ctx, env, step)
	if err != nil {
		return nil, err
	}
	res, err := r.RollingUpdate(ctx, names, release(step.Params))
	if res == nil {
		return nil, err
	}
	if res.Undo != nil {
		env.Shared.Store(SharedLastRollout, res.Undo)
	}
	if err == nil && res.Report.FailedRequests > 0 {
		res.Report.Evidence = append(res.Report.Evidence, "the bar is zero failed requests")
		o, _ := outcome(res.Report, nil)
		o.Failed = true
		return o, nil
	}
	return outcome(res.Report, err)
}

func actModelUpdate(ctx context.Context, env *ActionEnv, step Step) (*ActionOutcome, error) {
	if pStr(step.Params, "version") == "" {
		return nil, fmt.Errorf("model-update: param version is required")
	}
	return actRolling(ctx, env, step)
}

func actBlueGreen(ctx context.Context, env *ActionEnv, step Step) (*ActionOutcome, error) {
	r, err := rollouter(ctx, env, step.Params)
	if err != nil {
		return nil, err
	}
	after, err := pDur(step.Params, "rollback_after", 0)
	if err != nil {
		return nil, err
	}
	res, err := r.BlueGreen(ctx, release(step.Params), after)
	if res == nil {
		return nil, err
	}
	if res.Undo != nil {
		env.Shared.Store(SharedLastRollout, res.Undo)
	}
	return outcome(res.Report, err)
}

func actCanary(ctx context.Context, env *ActionEnv, step Step) (*ActionOutcome, error) {
	r, err := rollouter(ctx, env, step.Params)
	if err != nil {
		return nil, err
	}
	an := rollout.DefaultAnalysis()
	if an.Interval, err = pDur(step.Params, "interval", an.Interval); err != nil {
		return nil, err
	}
	if s := pStr(step.Params, "max_error_rate_increase"); s != "" {
		f, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
		if err != nil {
			return nil, fmt.Errorf("param max_error_rate_increase: %w", err)
		}
		an.MaxErrorRateDelta = f / 100
	}
	if s := pStr(step.Params, "max_p95_increase"); s != "" {
		f, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
		if err != nil {
			return nil, fmt.Errorf("param max_p95_increase: %w", err)
		}
		an.MaxP95Factor = 1 + f/100
	}
	if s := pStr(step.Params, "min_samples"); s != "" {
		if an.MinSamples, err = strconv.Atoi(s); err != nil {
			return nil, fmt.Errorf("param min_samples: %w", err)
		}
	}
	var steps []float64
	for _, f := range strings.FieldsFunc(pStr(step.Params, "steps"), func(r rune) bool { return r == ',' || r == '/' || r == ' ' }) {
		v, err := strconv.ParseFloat(strings.TrimSuffix(f, "%"), 64)
		if err != nil || v <= 0 || v > 100 {
			return nil, fmt.Errorf("param steps: bad percentage %q", f)
		}
		steps = append(steps, v)
	}
	res, err := r.Canary(ctx, release(step.Params), steps, an, pStr(step.Params, "promote") != "keep")
	if res == nil {
		return nil, err
	}
	if res.Undo != nil {
		env.Shared.Store(SharedLastRollout, res.Undo)
	}
	o, _ := outcome(res.Report, err)
	if want := pStr(step.Params, "expect"); want != "" && err == nil && want != res.Report.Decision {
		o.Failed = true
		o.Detail += fmt.Sprintf(" (expected %s)", want)
	}
	return o, nil
}

func actRollback(ctx context.Context, env *ActionEnv, _ Step) (*ActionOutcome, error) {
	v, ok := env.Shared.LoadAndDelete(SharedLastRollout)
	if !ok {
		return nil, fmt.Errorf("rollback: no earlier rollout in this drill to undo")
	}
	rep, err := v.(*rollout.Undo).Run(ctx)
	return outcome(rep, err)
}

func actGatewayUpdate(ctx context.Context, env *ActionEnv, step Step) (*ActionOutcome, error) {
	r, err := rollouter(ctx, env, step.Params)
	if err != nil {
		return nil, err
	}
	rep, err := r.GatewayUpdate(ctx, release(step.Params))
	return outcome(rep, err)
}

func actBackup(ctx context.Context, env *ActionEnv, step Step) (*ActionOutcome, error) {
	dir := pStr(step.Params, "dir")
	if dir == "" {
		dir = filepath.Join(env.StateDir, "backups", time.Now().UTC().Format("20060102T150405.000000000Z"))
	}
	if _, err := os.Stat(dir); err == nil {
		if ents, _ := os.ReadDir(dir); len(ents) > 0 {
			return nil, fmt.Errorf("backup: %s exists and is not empty", dir)
		}
	}
	m, err := backup.BackupStack(ctx, dir, env.Stack, env.Docker, backup.WithLogger(env.Log))
	if err != nil {
		return nil, err
	}
	env.Shared.Store(SharedLastBackup, dir)
	env.Shared.Store(SharedBackupAt, m.CreatedAt)
	dr := &reports.DR{BackupDir: dir, Notes: []string{fmt.Sprintf("backup: %d files, %d bytes in %.2fs (%.1f MiB/s)",
		len(m.Entries), m.Bytes, m.Seconds, float64(m.Bytes)/(1<<20)/max(m.Seconds, 1e-9))}}
	return &ActionOutcome{DR: dr, Detail: fmt.Sprintf("backup of %d files (%d bytes) in %s", len(m.Entries), m.Bytes, dir)}, nil
}

// disasterAt finds when the disaster happened, as the probe saw it: the
// start of the first one-second window with failed requests after the
// backup; else, when the gateway routed around it (no failure seen), the end
// of the last window in which the backend that stopped serving earliest
// still answered (if it stopped more than two seconds ago). Zero if neither.
func disasterAt(env *ActionEnv, now time.Time) (time.Time, string) {
	v, ok := env.Shared.Load(SharedBackupAt)
	if !ok || env.Traffic == nil {
		return time.Time{}, ""
	}
	from := v.(time.Time)
	for t := from; t.Before(now); t = t.Add(time.Second) {
		if env.Traffic.Stats(t, t.Add(time.Second), "", true).Failed > 0 {
			return t, "the first failed request after the backup"
		}
	}
	var earliest time.Time
	var who string
	for _, b := range env.Traffic.Backends() {
		var last time.Time
		for t := from; t.Before(now); t = t.Add(time.Second) {
			if env.Traffic.Stats(t, t.Add(time.Second), b, false).Total > 0 {
				last = t.Add(time.Second)
			}
		}
		if !last.IsZero() && (earliest.IsZero() || last.Before(earliest)) {
			earliest, who = last, b
		}
	}
	if !earliest.IsZero() && now.Sub(earliest) > 2*time.Second {
		return earliest, "the last request " + who + " answered before it stopped serving (the gateway routed around it)"
	}
	return time.Time{}, ""
}

func actRestore(ctx context.Context, env *ActionEnv, step Step) (*ActionOutcome, error) {
	dir := pStr(step.Params, "dir")
	if dir == "" {
		v, ok := env.Shared.Load(SharedLastBackup)
		if !ok {
			return nil, fmt.Errorf("restore: no backup taken earlier in this drill and no dir param: %w", backup.ErrNotFound)
		}
		dir = v.(string)
	}
	opts := []backup.Option{backup.WithLogger(env.Log)}
	var only []string
	if o := pStr(step.Params, "only"); o != "" && o != "all" {
		only = append(only, o)
	}
	names, err := targetNames(ctx, env, step)
	if err != nil {
		return nil, err
	}
	only = append(only, names...)
	if len(only) > 0 {
		opts = append(opts, backup.WithOnly(only...))
	}
	note := "RTO measured from the restore's start (no failed request and no backend stopping seen after the backup)"
	if t, why := disasterAt(env, time.Now()); !t.IsZero() {
		opts = append(opts, backup.WithDisasterAt(t))
		note = "RTO measured from " + why + " (" + t.UTC().Format(time.RFC3339Nano) + ")"
	}
	dr, err := backup.Restore(ctx, dir, env.Stack, env.Docker, opts...)
	if err != nil {
		return nil, err
	}
	dr.Notes = append(dr.Notes, note)
	o := &ActionOutcome{DR: dr, Detail: "restored " + dir}
	if dr.RTOSeconds != nil {
		o.Detail += fmt.Sprintf(", RTO %.2fs", *dr.RTOSeconds)
	}
	if dr.RPORows != nil {
		o.Detail += fmt.Sprintf(", RPO %d rows / %.2fs", *dr.RPORows, *dr.RPOSeconds)
	}
	if dr.GoldenPromptMatch != nil && !*dr.GoldenPromptMatch {
		o.Failed = true
		o.Detail += ", golden prompt changed"
	}
	return o, nil
}
