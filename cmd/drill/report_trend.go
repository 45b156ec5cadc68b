package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aiuptime/aiuptime/exitcode"
	"github.com/aiuptime/aiuptime/reports"
	"github.com/spf13/cobra"
)

// loadRuns loads every report.json in dirs: a dir holding one, or its
// subdirectories'. A report.json read twice (a dir given twice) counts
// once. where maps each run to the directory its report.json is in.
func loadRuns(dirs []string) (runs []*reports.Report, where map[*reports.Report]string, err error) {
	where = map[*reports.Report]string{}
	seen := map[string]bool{}
	add := func(file string) error {
		abs, err := filepath.Abs(file)
		if err == nil && seen[abs] {
			return nil
		}
		seen[abs] = true
		r, err := reports.Load(file)
		if err != nil {
			return err
		}
		runs = append(runs, r)
		where[r] = filepath.Dir(file)
		return nil
	}
	for _, d := range dirs {
		if st, err := os.Stat(d); err == nil && !st.IsDir() {
			if err := add(d); err != nil {
				return nil, nil, err
			}
			continue
		}
		if _, err := os.Stat(filepath.Join(d, reports.FileJSON)); err == nil {
			if err := add(filepath.Join(d, reports.FileJSON)); err != nil {
				return nil, nil, err
			}
			continue
		}
		found, _ := filepath.Glob(filepath.Join(d, "*", reports.FileJSON))
		if len(found) == 0 {
			return nil, nil, fmt.Errorf("%s: no report.json in it or its subdirectories", d)
		}
		slices.Sort(found)
		for _, f := range found {
			if err := add(f); err != nil {
				return nil, nil, err
			}
		}
	}
	return runs, where, nil
}

// sloThresholds takes the newest run's SLO targets as trend thresholds.
func sloThresholds(runs []*reports.Report) map[string]float64 {
	th := map[string]float64{}
	var newest *reports.Report
	for _, r := range runs {
		if newest == nil || r.StartedAt.After(newest.StartedAt) {
			newest = r
		}
	}
	if newest == nil {
		return th
	}
	names := map[string]string{"availability": reports.MetricNameAvailability, "error_rate": reports.MetricNameErrorRate,
		"latency_p95": reports.MetricNameLatencyP95, "ttft_p95": reports.MetricNameTTFTP95}
	for _, s := range newest.SLO {
		if m, ok := names[s.Name]; ok {
			th[m] = s.Target
		}
	}
	return th
}

// trendFlags are report's flags for --trend.
type trendFlags struct {
	thresholds  []string
	plan, stack string
	minRuns     int
	minSpan     time.Duration
	level       float64
	now         string
}

// register adds the --trend flags to report's command.
func (f *trendFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringArrayVar(&f.thresholds, "threshold", nil, "metric=value for --trend (e.g. latency_p95=2, availability=0.99); default: the newest run's SLO targets")
	fl.StringVar(&f.plan, "plan", "", "with --trend: fit the runs of this plan when the DIRs hold several")
	fl.StringVar(&f.stack, "stack", "", "with --trend: fit the runs on this stack when the DIRs hold several (as report.json's stack says)")
	fl.IntVar(&f.minRuns, "min-runs", reports.DefaultTrendMinRuns, "with --trend: the fewest runs fitted (at least 3)")
	fl.DurationVar(&f.minSpan, "min-span", reports.DefaultTrendMinSpan, "with --trend: the shortest span of start times fitted (e.g. 72h; 0 for any)")
	fl.Float64Var(&f.level, "level", reports.DefaultTrendLevel, "with --trend: the level of the slopes' intervals (0..1)")
	fl.StringVar(&f.now, "now", "", "with --trend: the RFC 3339 time maintenance counts from (default: the newest run's start)")
	_ = cmd.RegisterFlagCompletionFunc("plan", completeTrendGroups(func(g reports.TrendGroup) string { return g.Plan }))
	_ = cmd.RegisterFlagCompletionFunc("stack", completeTrendGroups(func(g reports.TrendGroup) string { return g.Stack }))
}

// options turns the flags into the trend's options, refusing bad values.
func (f *trendFlags) options(runs []*reports.Report, where map[*reports.Report]string) (reports.TrendOptions, error) {
	o := reports.TrendOptions{MinRuns: f.minRuns, MinSpan: f.minSpan, Level: f.level, Dirs: where, Thresholds: sloThresholds(runs)}
	switch {
	case f.minRuns < 3:
		return o, fmt.Errorf("--min-runs %d: a trend needs at least 3 runs", f.minRuns)
	case f.minSpan < 0:
		return o, fmt.Errorf("--min-span %s: must not be negative", f.minSpan)
	case !(f.level > 0 && f.level < 1):
		return o, fmt.Errorf("--level %v: want a fraction between 0 and 1, e.g. 0.9", f.level)
	}
	if f.minSpan == 0 {
		o.MinSpan = time.Nanosecond // any span: TrendOf takes 0 for the default
	}
	if f.now != "" {
		now, err := time.Parse(time.RFC3339, f.now)
		if err != nil {
			return o, fmt.Errorf("--now %q: want an RFC 3339 time such as 2026-05-01T00:00:00Z", f.now)
		}
		o.Now = now
	}
	for _, t := range f.thresholds {
		k, v, ok := strings.Cut(t, "=")
		x, err := strconv.ParseFloat(v, 64)
		if !ok || err != nil || !slices.Contains(trendMetrics, k) {
			return o, fmt.Errorf("--threshold %q: want METRIC=NUMBER with METRIC one of %s", t, strings.Join(trendMetrics, ", "))
		}
		o.Thresholds[k] = x
	}
	return o, nil
}

// selectGroup keeps the runs of --plan and --stack; with neither it keeps
// every run (TrendOf refuses a mix).
func (f *trendFlags) selectGroup(runs []*reports.Report) ([]*reports.Report, error) {
	if f.plan == "" && f.stack == "" {
		return runs, nil
	}
	var out []*reports.Report
	for _, r := range runs {
		if (f.plan == "" || r.Plan == f.plan) && (f.stack == "" || r.Stack == f.stack) {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no run of%s in the DIRs; they hold %s", f.selection(), trendGroupList(runs))
	}
	return out, nil
}

func (f *trendFlags) selection() string {
	var s string
	if f.plan != "" {
		s += fmt.Sprintf(" plan %q", f.plan)
	}
	if f.stack != "" {
		s += fmt.Sprintf(" stack %q", f.stack)
	}
	return s
}

// trendGroupList names every plan and stack in runs with its runs and span.
func trendGroupList(runs []*reports.Report) string {
	var names []string
	for _, g := range reports.GroupRuns(runs) {
		names = append(names, g.String())
	}
	return strings.Join(names, "; ")
}

// trendHint says which flag changes a refusal of TrendOf.
func trendHint(err error) string {
	switch {
	case errors.Is(err, reports.ErrMixedPlans):
		return "pick one with --plan NAME (and --stack NAME)"
	case errors.Is(err, reports.ErrTooFewRuns):
		return "add runs, or lower the minimum with --min-runs N (at least 3)"
	case errors.Is(err, reports.ErrShortSpan):
		return "wait for runs further apart, or lower the minimum with --min-span (e.g. --min-span 48h)"
	}
	return ""
}

// runTrend fits the trend of the runs in dirs and prints it (Markdown, or
// JSON with asJSON); with out set it also writes the trend's files there.
func runTrend(cmd *cobra.Command, dirs []string, tf *trendFlags, asJSON bool, out string) error {
	runs, where, err := loadRuns(dirs)
	if err != nil {
		return exitcode.Wrap(exitcode.Usage, err)
	}
	if runs, err = tf.selectGroup(runs); err != nil {
		return exitcode.Wrap(exitcode.Usage, err)
	}
	o, err := tf.options(runs, where)
	if err != nil {
		return exitcode.Wrap(exitcode.Usage, err)
	}
	rep, err := reports.TrendOf(runs, o)
	if err != nil {
		if h := trendHint(err); h != "" {
			err = fmt.Errorf("%w; %s", err, h)
		}
		return exitcode.Wrap(exitcode.Usage, err)
	}
	if out != "" {
		if err := writeTrendFiles(cmd, rep, runs, out); err != nil {
			return err
		}
	}
	if asJSON {
		return printJSON(cmd, rep)
	}
	_, err = fmt.Fprint(cmd.OutOrStdout(), rep.Markdown())
	return err
}

// completeTrendGroups completes --plan or --stack with the names key
// picks from the runs in the DIRs already typed.
func completeTrendGroups(key func(reports.TrendGroup) string) cobra.CompletionFunc {
	return func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		runs, _, err := loadRuns(args)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var names []string
		for _, g := range reports.GroupRuns(runs) {
			if k := key(g); k != "" && !slices.Contains(names, k) {
				names = append(names, k)
			}
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}
