package drill

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"

	"github.com/aiuptime/aiuptime/k6run"
	"github.com/aiuptime/aiuptime/reports"
	"github.com/aiuptime/aiuptime/stack"
	"github.com/aiuptime/aiuptime/stack/containers"
)

// K6Env names the environment variable that points at a k6 binary built
// with the xk6-aiuptime extension (otherwise $AIUPTIME_BIN/k6, bin/k6 next
// to the drill binary, or bin/k6 of the source tree, built if missing).
const K6Env = "AIUPTIME_K6"

// k6Load is a running k6 script beside the probe.
type k6Load struct {
	script string
	done   chan struct{}
	sum    *k6run.Summary
	err    error
}

// findK6 locates the k6 binary.
func findK6(ctx context.Context) (string, error) {
	if p := os.Getenv(K6Env); p != "" {
		return p, nil
	}
	if exe, err := os.Executable(); err == nil {
		if p := filepath.Join(filepath.Dir(exe), "k6"); isExecutable(p) {
			return p, nil
		}
	}
	root, err := containers.ModuleRoot()
	if err != nil {
		return "", fmt.Errorf("no k6 binary: set %s, or run from the source tree (make k6)", K6Env)
	}
	return k6run.Ensure(ctx, root)
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// startLoad runs the plan's k6 script against the probe's target until ctx
// ends (k6 gets SIGINT and writes its summary) or the script finishes.
func (r *Runner) startLoad(ctx context.Context, log *slog.Logger, target stack.Service, key string) (*k6Load, error) {
	script := r.plan.LoadScript()
	k6, err := findK6(ctx)
	if err != nil {
		return nil, fmt.Errorf("load.k6: %w", err)
	}
	if _, err := os.Stat(script); err != nil {
		return nil, fmt.Errorf("load.k6: %w", err)
	}
	env := map[string]string{"BASE_URL": target.URL, "MODEL": r.stack.ModelName(), "API_KEY": key}
	for k, v := range r.plan.Load.Env {
		env[k] = v
	}
	l := &k6Load{script: script, done: make(chan struct{})}
	log.Info("k6 load starting", "script", script)
	go func() {
		defer close(l.done)
		l.sum, l.err = k6run.Run(ctx, k6, script, k6run.WithEnv(env), k6run.WithLogger(log))
	}()
	return l, nil
}

// finish waits for k6 and returns its report section. A run cancelled by
// the drill's end is normal; thresholds that failed are reported, not
// errors.
func (l *k6Load) finish() (*reports.K6, error) {
	<-l.done
	if l.sum == nil {
		return nil, fmt.Errorf("k6 %s: %w", l.script, l.err)
	}
	out := &reports.K6{Script: l.script, Metrics: map[string]map[string]float64{}, Thresholds: map[string]bool{}}
	names := make([]string, 0, len(l.sum.Metrics))
	for n := range l.sum.Metrics {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		out.Metrics[n] = l.sum.Metrics[n].Values
	}
	for _, t := range l.sum.Thresholds() {
		out.Thresholds[t.Metric+": "+t.Source] = t.OK
	}
	if l.err != nil && !errors.Is(l.err, context.Canceled) {
		return out, fmt.Errorf("k6 %s: %w", l.script, l.err)
	}
	return out, nil
}
