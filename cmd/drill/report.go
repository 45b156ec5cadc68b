package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/aiuptime/aiuptime/exitcode"
	"github.com/aiuptime/aiuptime/reports"
)

func init() { addCommand(newReportCmd) }

func newReportCmd() *cobra.Command {
	var compare, trend, asJSON bool
	var out string
	var tf trendFlags
	var cf compareFlags
	cmd := &cobra.Command{
		Use:   "report DIR | --compare BEFORE AFTER | --trend DIR...",
		Short: "Re-render reports from report.json, compare two runs, or fit a trend",
		Long: `report DIR re-renders junit.xml, report.md, report.html and drill.prom from
DIR/report.json (into --out, default DIR).

report --compare BEFORE AFTER judges two runs of one plan (e.g. before and
after a maintenance window) as a canary judge does: availability, error rate,
p50/p95/p99 latency, TTFT, MTTR and outages, each with a significance test on
the runs' samples (Mann-Whitney U on the latency distribution and the
outages' durations, a bootstrap of the quantile in 5 s blocks of requests on
p50, p95, p99 and TTFT p95, two proportions on the request counts, Poisson
rates on the outage counts). A
metric is worse only when its change is significant and beyond its tolerance
(--tolerance) at the near end of its interval, in its worse direction. Exit 1 when the comparison is worse (a critical metric is
worse, or too many are), so it can gate a release. Runs of different plans
need --force.

report --trend DIR... fits a robust line (Theil-Sen, with the slope's interval
and R²) per measure across the runs of one plan on one stack (each DIR is a run
directory or a directory of run directories; --plan and --stack pick a group),
on the real time axis. It refuses too few runs (--min-runs, 5) or too short a
span (--min-span, 7 days). For each threshold (the newest run's SLO targets, or
--threshold latency_p95=2, seconds, ratios 0..1) it estimates when the line
crosses it, with the Mann-Kendall confidence that the metric is worsening, and
suggests preventive maintenance above 70 % (scheduled) and 85 % (high
priority). --out DIR writes trend.json, trend.md, trend.html (a chart per
metric), drill.prom and, with a suggestion, a plan stub, its notice and
schedules.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case compare && trend:
				return exitcode.Wrap(exitcode.Usage, errors.New("--compare and --trend exclude each other"))
			case compare:
				if len(args) != 2 {
					return exitcode.Wrap(exitcode.Usage, errors.New("--compare needs BEFORE and AFTER"))
				}
				return runCompare(cmd, args[0], args[1], &cf, asJSON)
			case trend:
				if len(args) == 0 {
					return exitcode.Wrap(exitcode.Usage, errors.New("--trend needs at least one DIR"))
				}
				return runTrend(cmd, args, &tf, asJSON, out)
			}
			if len(args) != 1 {
				return exitcode.Wrap(exitcode.Usage, errors.New("report needs exactly one DIR holding report.json"))
			}
			return rerender(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0], out)
		},
	}
	cmd.Flags().BoolVar(&compare, "compare", false, "compare two runs: BEFORE AFTER")
	cmd.Flags().BoolVar(&trend, "trend", false, "fit a trend across runs: DIR...")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the comparison or trend as JSON")
	cmd.Flags().StringVar(&out, "out", "", "where to write the re-rendered files (default: DIR)")
	tf.register(cmd)
	cf.register(cmd)
	return cmd
}

// rerender renders the report.json at src (a run dir or the file) again
// into out (default: its dir), masked by the CLI's redactor, keeping the
// fields this build does not know. What is not a report, and a target in
// out that is not a regular file, are refused with exit 2 before anything
// is written.
func rerender(ctx context.Context, w, stderr io.Writer, src, out string) error {
	d, err := reports.Read(src)
	if err != nil {
		return exitcode.Wrap(exitcode.Usage, err)
	}
	if out == "" {
		out = filepath.Dir(d.Path)
	}
	if err := writeReports(ctx, stderr, out, d.Report, reports.WithRedactor(redactor), reports.WithOriginal(d.Raw)); err != nil {
		if errors.Is(err, reports.ErrUnsafeTarget) {
			return exitcode.Wrap(exitcode.Usage, err)
		}
		return exitcode.Wrap(exitcode.Harness, err)
	}
	fmt.Fprint(w, reports.Summary(d.Report))
	files := reports.Files
	if _, err := os.Stat(filepath.Join(out, reports.FilePDF)); err == nil {
		files = append(files[:len(files):len(files)], reports.FilePDF)
	}
	_, err = fmt.Fprintf(w, "wrote %s\n", strings.Join(prefixAll(out, files), " "))
	return err
}

// writeReports writes rep's five files into dir and prints report.html to
// report.pdf beside them. When the PDF cannot be printed (no Chromium, or
// it failed) it says so on stderr and in the report's capability notes,
// writing the five files again with that note; an earlier report.pdf is
// removed rather than left beside reports it does not match. Printing is
// bounded (reports.DefaultPDFTimeout) and runs even after the drill was
// interrupted, like the rest of the reports.
func writeReports(ctx context.Context, stderr io.Writer, dir string, rep *reports.Report, opts ...reports.Option) error {
	_, findErr := reports.FindChromium()
	reports.SetPDFNote(rep, findErr)
	if err := reports.Write(dir, rep, opts...); err != nil {
		return err
	}
	pdfErr := reports.WritePDF(context.WithoutCancel(ctx), dir)
	if pdfErr == nil {
		return nil
	}
	fmt.Fprintf(stderr, "%s%v\n", reports.PDFNotePrefix, pdfErr)
	if findErr != nil {
		return nil // the files carry the note already
	}
	reports.SetPDFNote(rep, pdfErr)
	return reports.Write(dir, rep, opts...)
}

func prefixAll(dir string, names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = filepath.Join(dir, n)
	}
	return out
}
