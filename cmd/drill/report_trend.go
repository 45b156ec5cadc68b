package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/aiuptime/aiuptime/exitcode"
	"github.com/aiuptime/aiuptime/reports"
	"github.com/spf13/cobra"
)

// loadRuns loads every report.json in dirs: a dir holding one, or its subdirectories'.
func loadRuns(dirs []string) ([]*reports.Report, error) {
	var runs []*reports.Report
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, reports.FileJSON)); err == nil {
			r, err := reports.Load(d)
			if err != nil {
				return nil, err
			}
			runs = append(runs, r)
			continue
		}
		found, _ := filepath.Glob(filepath.Join(d, "*", reports.FileJSON))
		if len(found) == 0 {
			return nil, fmt.Errorf("%s: no report.json in it or its subdirectories", d)
		}
		sort.Strings(found)
		for _, f := range found {
			r, err := reports.Load(f)
			if err != nil {
				return nil, err
			}
			runs = append(runs, r)
		}
	}
	return runs, nil
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
	thresholds []string
}

// register adds the --trend flags to report's command.
func (f *trendFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringArrayVar(&f.thresholds, "threshold", nil, "metric=value for --trend (e.g. latency_p95=2, availability=0.99)")
}

func runTrend(cmd *cobra.Command, dirs []string, tf *trendFlags, asJSON bool) error {
	flags := tf.thresholds
	runs, err := loadRuns(dirs)
	if err != nil {
		return exitcode.Wrap(exitcode.Usage, err)
	}
	if len(runs) < 2 {
		return exitcode.Wrap(exitcode.Usage, fmt.Errorf("a trend needs at least two runs, found %d", len(runs)))
	}
	th := sloThresholds(runs)
	for _, f := range flags {
		k, v, ok := strings.Cut(f, "=")
		x, err := strconv.ParseFloat(v, 64)
		if _, known := reports.MetricValue(runs[0], k); !ok || err != nil || !known {
			return exitcode.Wrap(exitcode.Usage, fmt.Errorf("--threshold %q: want METRIC=NUMBER with METRIC one of availability, error_rate, latency_p50, latency_p95, latency_p99, ttft_p95, mttr, outages", f))
		}
		th[k] = x
	}
	lines := reports.Trend(runs, th)
	if asJSON {
		return printJSON(cmd, lines)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%d runs\n\n", len(runs))
	_, err = fmt.Fprint(cmd.OutOrStdout(), reports.TrendMarkdown(lines))
	return err
}
