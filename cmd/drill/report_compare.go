package main

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/aiuptime/aiuptime/exitcode"
	"github.com/aiuptime/aiuptime/reports"
)

// compareFlags are report's flags for --compare.
type compareFlags struct {
	force      bool
	alpha      float64
	tolerances []string
	directions []string
	critical   []string
}

// register adds the --compare flags to report's command.
func (f *compareFlags) register(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&f.force, "force", false, "--compare: compare runs of different plans (the output says so)")
	cmd.Flags().Float64Var(&f.alpha, "alpha", reports.DefaultCompareAlpha, "--compare: significance level of every metric's test")
	cmd.Flags().StringArrayVar(&f.tolerances, "tolerance", nil, "--compare: METRIC=TOL[,TOL] with TOL a percentage (10%), a duration (30ms) or a number in the metric's unit (0.01)")
	cmd.Flags().StringArrayVar(&f.directions, "direction", nil, "--compare: METRIC=increase|decrease|either, the way a change is worse")
	cmd.Flags().StringSliceVar(&f.critical, "critical", nil, "--compare: the critical metrics, replacing the default (availability,error_rate,latency_p95); \"none\" for none")
}

// options turns the flags into CompareOptions; errors name the flag.
func (f *compareFlags) options() (reports.CompareOptions, error) {
	o := reports.CompareOptions{Alpha: f.alpha, Force: f.force, Rules: reports.DefaultCompareRules()}
	if f.alpha <= 0 || f.alpha >= 1 {
		return o, fmt.Errorf("--alpha %g: want a level between 0 and 1, e.g. 0.05", f.alpha)
	}
	for _, t := range f.tolerances {
		name, rule, spec, err := f.ruleOf(o.Rules, "--tolerance", t)
		if err != nil {
			return o, err
		}
		rule.Tolerance = reports.Tolerance{}
		for part := range strings.SplitSeq(spec, ",") {
			if err := addTolerance(&rule.Tolerance, strings.TrimSpace(part)); err != nil {
				return o, fmt.Errorf("--tolerance %q: %w", t, err)
			}
		}
		o.Rules[name] = rule
	}
	for _, d := range f.directions {
		name, rule, spec, err := f.ruleOf(o.Rules, "--direction", d)
		if err != nil {
			return o, err
		}
		dir := reports.Direction(spec)
		if !slices.Contains([]reports.Direction{reports.DirectionIncrease, reports.DirectionDecrease, reports.DirectionEither}, dir) {
			return o, fmt.Errorf("--direction %q: want increase, decrease or either", d)
		}
		rule.Direction = dir
		o.Rules[name] = rule
	}
	if len(f.critical) > 0 {
		return o, setCritical(o.Rules, f.critical)
	}
	return o, nil
}

// ruleOf splits METRIC=SPEC and returns the metric's current rule.
func (f *compareFlags) ruleOf(rules map[string]reports.MetricRule, flag, arg string) (string, reports.MetricRule, string, error) {
	name, spec, ok := strings.Cut(arg, "=")
	rule, known := rules[name]
	if !ok || !known || spec == "" {
		return "", rule, "", fmt.Errorf("%s %q: want METRIC=VALUE with METRIC one of %s", flag, arg, strings.Join(compareMetrics(rules), ", "))
	}
	return name, rule, spec, nil
}

// addTolerance reads one bound: 10% is relative, 30ms a duration in
// seconds, a bare number is in the metric's unit.
func addTolerance(t *reports.Tolerance, s string) error {
	if v, ok := strings.CutSuffix(s, "%"); ok {
		x, err := strconv.ParseFloat(v, 64)
		if err != nil || x < 0 {
			return fmt.Errorf("%q is not a percentage", s)
		}
		t.Relative = x / 100
		return nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		t.Absolute = d.Seconds()
		return nil
	}
	x, err := strconv.ParseFloat(s, 64)
	if err != nil || x < 0 {
		return fmt.Errorf("%q is neither a percentage, a duration nor a number", s)
	}
	t.Absolute = x
	return nil
}

// setCritical makes exactly names critical ("none": no metric).
func setCritical(rules map[string]reports.MetricRule, names []string) error {
	for k, r := range rules {
		r.Critical = false
		rules[k] = r
	}
	for _, n := range names {
		if n == "none" && len(names) == 1 {
			return nil
		}
		r, ok := rules[n]
		if !ok {
			return fmt.Errorf("--critical %q: want metrics among %s, or none", n, strings.Join(compareMetrics(rules), ", "))
		}
		r.Critical = true
		rules[n] = r
	}
	return nil
}

func compareMetrics(rules map[string]reports.MetricRule) []string {
	var names []string
	for k := range rules {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// runCompare judges AFTER against BEFORE; exit 1 when it is worse.
func runCompare(cmd *cobra.Command, before, after string, f *compareFlags, asJSON bool) error {
	o, err := f.options()
	if err != nil {
		return exitcode.Wrap(exitcode.Usage, err)
	}
	b, err := reports.Load(before)
	if err != nil {
		return exitcode.Wrap(exitcode.Usage, err)
	}
	a, err := reports.Load(after)
	if err != nil {
		return exitcode.Wrap(exitcode.Usage, err)
	}
	c, err := reports.Compare(b, a, o)
	if errors.Is(err, reports.ErrDifferentPlans) {
		return exitcode.Wrap(exitcode.Usage, fmt.Errorf("%s vs %s: %w", before, after, err))
	}
	if asJSON {
		err = printJSON(cmd, c)
	} else {
		_, err = fmt.Fprint(cmd.OutOrStdout(), c.Markdown())
	}
	if err == nil && c.Verdict == reports.VerdictWorse {
		return exitcode.Wrap(exitcode.Fail, fmt.Errorf("%s is worse than %s: %s", c.After, c.Before, c.Reason))
	}
	return err
}
