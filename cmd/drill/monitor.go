package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/aiuptime/aiuptime/exitcode"
	"github.com/aiuptime/aiuptime/monitor"
	"github.com/aiuptime/aiuptime/monitor/rules"
	"github.com/aiuptime/aiuptime/slo"
	"github.com/aiuptime/aiuptime/units"
)

func init() { addCommand(newMonitorCmd) }

// rulesFlags are `drill monitor rules`'s inputs besides the spec itself.
type rulesFlags struct {
	spec                        rules.Spec
	check                       bool
	out                         string
	openslo                     string
	availability, errorRate, pc float64
	latency                     time.Duration
}

// newMonitorCmd is `drill monitor rules`: print (or write, with tests) the
// generated Prometheus rules for an SLO, optionally checked with promtool.
func newMonitorCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "monitor",
		Short: "Prometheus rules and alerts used by drills",
	}
	var rf rulesFlags
	rulesCmd := &cobra.Command{
		Use:   "rules",
		Short: "Print the SLO burn-rate and direct alert rules (Prometheus rule file YAML)",
		Long: `Print the recording and alerting rules drills load into Prometheus:
multiwindow, multi-burn-rate SLO alerts (the SRE workbook's 30-day windows
divided by --scale, never shorter than 2 scrape intervals) and the direct
alerts (engine down or stalled, gateway down, deployment cooldown, error
rate, availability, p95). Every alert waits --for-scrapes scrape intervals
before firing and carries runbook_url, summary and description annotations.

The rules select the gateway and the model servers by job, namespace and
instance (regular expressions); the defaults are the job names of LiteLLM's
and vLLM's example scrape configs (litellm, vllm), so they work on a
Prometheus set up from those, and on the drills' own.

--out DIR writes ` + rules.FileRules + ` and ` + rules.FileTests + ` (a promtool
unit-test file proving each alert fires and resolves on synthetic LiteLLM and
vLLM series) instead of printing. Notes on clamped windows and omitted rules
go to stderr. --check runs promtool check rules (and, with --out, promtool
test rules).

--openslo FILE adds, for each ratio SLI of an OpenSLO v1 file whose good,
bad or total queries are Prometheus queries, its error-ratio recording rules
and page and ticket burn-rate alerts (AiuptimeOpenSLOBudgetBurnPage/Ticket),
built from the file's own queries. The unit-test file does not cover these:
their series are the customer's.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runRules(cmd, &rf) },
	}
	f := rulesCmd.Flags()
	s := &rf.spec
	f.StringVar(&s.Name, "name", "gateway", "SLO name (the slo label)")
	f.Float64Var(&rf.availability, "availability", 0.999, "availability objective, fraction 0..1 (also AiuptimeLowAvailability's threshold)")
	f.Float64Var(&rf.errorRate, "error-rate", 0, "error-rate objective, fraction 0..1 (budget when --availability is 0)")
	f.DurationVar(&rf.latency, "latency", 2*time.Second, "latency objective threshold")
	f.Float64Var(&rf.pc, "percentile", 0.95, "fraction of requests that must be within --latency: 0.95 or 0.99")
	f.Float64Var(&s.LatencyBucket, "latency-bucket", 0, "le bound (seconds) of the exposed latency bucket for the latency SLI (0: omit latency SLO rules)")
	f.Float64Var(&s.Scale, "scale", 720, "divide every window by this factor (720: 1h -> 5s; 1: real time)")
	f.DurationVar(&s.ScrapeInterval, "scrape-interval", rules.DefaultScrapeInterval, "scrape and evaluation interval of the Prometheus that loads the rules")
	f.IntVar(&s.ForScrapes, "for-scrapes", rules.DefaultForScrapes, "every alert's for: in scrape intervals")
	f.DurationVar(&s.Thresholds.LatencyP95, "alert-p95", rules.DefaultLatencyP95, "direct alert: p95 threshold")
	f.Float64Var(&s.Thresholds.ErrorRate, "alert-error-rate", rules.DefaultErrorRate, "direct alert: error-rate threshold, fraction")
	f.Float64Var(&s.Thresholds.Availability, "alert-availability", 0, "direct alert: availability threshold, fraction (0: --availability)")
	f.StringVar(&s.RunbookURL, "runbook-url", rules.DefaultRunbookURL, "runbook page; each alert links to #<alert name, lower case>")
	for _, m := range []struct {
		p          *string
		name, def  string
		help, what string
	}{
		{&s.Selectors.Gateway.Job, "gateway-job", rules.DefaultGatewayJob, "job", "the gateway's (LiteLLM)"},
		{&s.Selectors.Gateway.Namespace, "gateway-namespace", "", "namespace", "the gateway's (LiteLLM)"},
		{&s.Selectors.Gateway.Instance, "gateway-instance", "", "instance", "the gateway's (LiteLLM)"},
		{&s.Selectors.Model.Job, "model-job", rules.DefaultModelJob, "job", "the model servers' (vLLM)"},
		{&s.Selectors.Model.Namespace, "model-namespace", "", "namespace", "the model servers' (vLLM)"},
		{&s.Selectors.Model.Instance, "model-instance", "", "instance", "the model servers' (vLLM)"},
	} {
		f.StringVar(m.p, m.name, m.def, fmt.Sprintf("%s %s label, a regular expression (empty: not matched)", m.what, m.help))
	}
	f.StringVar(&rf.openslo, "openslo", "", "OpenSLO v1 file: add burn-rate rules for its Prometheus ratio SLIs")
	f.StringVar(&rf.out, "out", "", "write the rule file and its promtool unit tests into this directory instead of printing")
	f.BoolVar(&rf.check, "check", false, "check the rules with promtool (with --out also run the unit tests)")
	cmd.AddCommand(rulesCmd)
	return cmd
}

// runRules generates, optionally checks, and prints or writes the rules.
func runRules(cmd *cobra.Command, rf *rulesFlags) error {
	if err := selectorsFromFlags(rf.spec.Selectors); err != nil {
		return exitcode.Wrap(exitcode.Usage, err)
	}
	if v := rf.spec.Thresholds.Availability; v < 0 || v >= 1 {
		return exitcode.Wrap(exitcode.Usage, fmt.Errorf("--alert-availability %v: want a fraction in [0, 1)", v))
	}
	if rf.spec.ForScrapes < 1 {
		return exitcode.Wrap(exitcode.Usage, fmt.Errorf("--for-scrapes %d: want at least 1", rf.spec.ForScrapes))
	}
	if err := sloFromFlags(&rf.spec.SLO, rf.availability, rf.errorRate, rf.latency, rf.pc); err != nil {
		return exitcode.Wrap(exitcode.Usage, err)
	}
	if rf.openslo != "" {
		set, err := slo.LoadOpenSLO(rf.openslo)
		if err != nil {
			return exitcode.Wrap(exitcode.Usage, err)
		}
		if len(set.Ratios) == 0 {
			fmt.Fprintf(cmd.ErrOrStderr(), "note: %s has no ratio SLI with Prometheus queries: no OpenSLO rules\n", rf.openslo)
		}
		rf.spec.SLO.Loaded = set
	}
	res, err := rules.GenerateWithOpenSLO(rf.spec)
	if err != nil {
		return exitcode.Wrap(exitcode.Usage, err)
	}
	for _, n := range res.Notes {
		fmt.Fprintln(cmd.ErrOrStderr(), "note:", n)
	}
	if rf.check {
		if err := monitor.CheckRules(cmd.Context(), res.File); err != nil {
			return exitcode.Wrap(exitcode.Harness, fmt.Errorf("check rules: %w", err))
		}
	}
	if rf.out == "" {
		b, err := res.File.YAML()
		if err != nil {
			return exitcode.Wrap(exitcode.Harness, err)
		}
		_, err = cmd.OutOrStdout().Write(b)
		return err
	}
	rp, tp, notes, err := rules.WriteFiles(rf.out, rf.spec, res)
	if err != nil {
		return exitcode.Wrap(exitcode.Harness, err)
	}
	for _, n := range notes {
		fmt.Fprintln(cmd.ErrOrStderr(), "note:", n)
	}
	if rf.check {
		if err := monitor.TestRules(cmd.Context(), tp); err != nil {
			return exitcode.Wrap(exitcode.Harness, err)
		}
	}
	fmt.Fprintf(cmd.OutOrStdout(), "wrote %s and %s\n", rp, tp)
	return nil
}

// selectorsFromFlags checks each matcher flag, naming the flag at fault.
func selectorsFromFlags(s rules.Selectors) error {
	var errs []error
	for _, c := range []struct {
		name string
		sel  rules.Selector
	}{{"gateway", s.Gateway}, {"model", s.Model}} {
		for _, m := range []struct{ label, v string }{{"job", c.sel.Job}, {"namespace", c.sel.Namespace}, {"instance", c.sel.Instance}} {
			if err := rules.ValidMatcher(m.v); err != nil {
				errs = append(errs, fmt.Errorf("--%s-%s: %w", c.name, m.label, err))
			}
		}
		if c.sel.IsZero() {
			errs = append(errs, fmt.Errorf("--%[1]s-job, --%[1]s-namespace, --%[1]s-instance are all empty: set at least one", c.name))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("selectors: %s", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	return nil
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
