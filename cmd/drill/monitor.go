package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/aiuptime/aiuptime/exitcode"
	"github.com/aiuptime/aiuptime/monitor"
	"github.com/aiuptime/aiuptime/monitor/rules"
	"github.com/aiuptime/aiuptime/slo"
	"github.com/aiuptime/aiuptime/units"
)

func init() { addCommand(newMonitorCmd) }

// newMonitorCmd is `drill monitor rules`: print the generated Prometheus
// rules for an SLO, optionally checked with promtool.
func newMonitorCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "monitor",
		Short: "Prometheus rules and alerts used by drills",
	}
	var (
		spec                        rules.Spec
		check                       bool
		availability, errorRate, pc float64
		latency                     time.Duration
	)
	rulesCmd := &cobra.Command{
		Use:   "rules",
		Short: "Print the SLO burn-rate and direct alert rules (Prometheus rule file YAML)",
		Long: `Print the recording and alerting rules drills load into Prometheus:
multiwindow, multi-burn-rate SLO alerts (Sloth's google-30d windows divided by
--scale, never shorter than 2 scrape intervals) and the direct alerts
(engine down, deployment cooldown, error rate, p95). Notes on clamped windows
and omitted rules go to stderr. --check runs promtool check rules.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := sloFromFlags(&spec.SLO, availability, errorRate, latency, pc); err != nil {
				return exitcode.Wrap(exitcode.Usage, err)
			}
			res, err := rules.Generate(spec)
			if err != nil {
				return exitcode.Wrap(exitcode.Usage, err)
			}
			for _, n := range res.Notes {
				fmt.Fprintln(cmd.ErrOrStderr(), "note:", n)
			}
			if check {
				if err := monitor.CheckRules(cmd.Context(), res.File); err != nil {
					if errors.Is(err, monitor.ErrNotInstalled) || errors.Is(err, monitor.ErrRejected) {
						return exitcode.Wrap(exitcode.Harness, err)
					}
					return exitcode.Wrap(exitcode.Harness, fmt.Errorf("check rules: %w", err))
				}
			}
			b, err := res.File.YAML()
			if err != nil {
				return exitcode.Wrap(exitcode.Harness, err)
			}
			_, err = cmd.OutOrStdout().Write(b)
			return err
		},
	}
	f := rulesCmd.Flags()
	f.StringVar(&spec.Name, "name", "gateway", "SLO name (the slo label)")
	f.Float64Var(&availability, "availability", 0.999, "availability objective, fraction 0..1")
	f.Float64Var(&errorRate, "error-rate", 0, "error-rate objective, fraction 0..1 (budget when --availability is 0)")
	f.DurationVar(&latency, "latency", 2*time.Second, "latency objective threshold")
	f.Float64Var(&pc, "percentile", 0.95, "fraction of requests that must be within --latency: 0.95 or 0.99")
	f.Float64Var(&spec.LatencyBucket, "latency-bucket", 0, "le bound (seconds) of the exposed latency bucket for the latency SLI (0: omit latency SLO rules)")
	f.Float64Var(&spec.Scale, "scale", 720, "divide every window by this factor (720: 1h -> 5s; 1: real time)")
	f.DurationVar(&spec.ScrapeInterval, "scrape-interval", rules.DefaultScrapeInterval, "scrape and evaluation interval")
	f.DurationVar(&spec.Thresholds.LatencyP95, "alert-p95", rules.DefaultLatencyP95, "direct alert: p95 threshold")
	f.Float64Var(&spec.Thresholds.ErrorRate, "alert-error-rate", rules.DefaultErrorRate, "direct alert: error-rate threshold, fraction")
	f.BoolVar(&check, "check", false, "check the rules with promtool")
	cmd.AddCommand(rulesCmd)
	return cmd
}

// sloFromFlags fills the objectives from the rules command's flags
// (fractions, as Prometheus rules state them).
func sloFromFlags(s *slo.Spec, availability, errorRate float64, latency time.Duration, percentile float64) error {
	for name, v := range map[string]float64{"--availability": availability, "--error-rate": errorRate} {
		if v < 0 || v >= 1 {
			return fmt.Errorf("%s %v: want a fraction in [0, 1)", name, v)
		}
	}
	if availability > 0 {
		p := units.Percent(availability)
		s.Availability = &p
	}
	if errorRate > 0 {
		p := units.Percent(errorRate)
		s.ErrorRate = &p
	}
	switch percentile {
	case 0.95:
		s.LatencyP95 = units.Duration(latency)
	case 0.99:
		s.LatencyP99 = units.Duration(latency)
	default:
		return fmt.Errorf("--percentile %v: want 0.95 or 0.99", percentile)
	}
	return nil
}
