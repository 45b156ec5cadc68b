package drill

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"

	"github.com/aiuptime/aiuptime/drill/plan"
	"github.com/aiuptime/aiuptime/internal/fixturebin"
	"github.com/aiuptime/aiuptime/k6run"
	"github.com/aiuptime/aiuptime/reports"
	"github.com/aiuptime/aiuptime/stack"
)

// K6Env names the environment variable that points at a k6 binary built
// with the xk6-aiuptime extension (otherwise $AIUPTIME_BIN/k6, bin/k6 next
// to the drill binary, or bin/k6 of the source tree, built if missing).
const K6Env = "AIUPTIME_K6"

// k6Load is a running k6 script beside the probe.
type k6Load struct {
	script string
	done   chan struct{}
	cancel context.CancelFunc
	sum    *k6run.Summary
	err    error
}

// findK6 locates the k6 binary: $AIUPTIME_K6, bin/k6 next to the drill
// binary, else the fixture bin dir (built there from the source tree).
func findK6(ctx context.Context) (string, error) {
	if p := os.Getenv(K6Env); p != "" {
		return p, nil
	}
	if exe, err := os.Executable(); err == nil {
		if p := filepath.Join(filepath.Dir(exe), "k6"); isExecutable(p) {
			return p, nil
		}
	}
	p, err := fixturebin.Path(ctx, fixturebin.K6)
	if err != nil {
		return "", fmt.Errorf("no k6 binary: set %s, or run from the source tree (make k6): %w", K6Env, err)
	}
	return p, nil
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// startLoad runs the plan's k6 script against the probe's target until
// Stop (k6 gets SIGINT and writes its summary) or the script finishes.
func startLoad(ctx context.Context, p *plan.Plan, st stack.Stack, target stack.Service, log *slog.Logger) (*k6Load, error) {
	script := p.LoadScript()
	k6, err := findK6(ctx)
	if err != nil {
		return nil, fmt.Errorf("load.k6: %w", err)
	}
	if _, err := os.Stat(script); err != nil {
		return nil, fmt.Errorf("load.k6: %w", err)
	}
	env := map[string]string{"BASE_URL": target.URL, "MODEL": st.ModelName(), "API_KEY": keyFor(st, target)}
	for k, v := range p.Load.Env {
		env[k] = v
	}
	loadCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	l := &k6Load{script: script, done: make(chan struct{}), cancel: cancel}
	log.Info("k6 load starting", "script", script)
	go func() {
		defer close(l.done)
		l.sum, l.err = k6run.Run(loadCtx, k6, script, k6run.WithEnv(env), k6run.WithLogger(log))
	}()
	return l, nil
}

// Stop ends k6 (SIGINT: it writes its summary), waits for it and returns
// its report section. A run cancelled by the drill's end is normal;
// thresholds that failed are reported, not errors.
func (l *k6Load) Stop() (*reports.K6, error) {
	l.cancel()
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
