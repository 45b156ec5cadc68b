package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/aiuptime/aiuptime/drill/plan"
	"github.com/aiuptime/aiuptime/exitcode"
	"github.com/aiuptime/aiuptime/hostcaps"
	"github.com/aiuptime/aiuptime/plans"
	"github.com/aiuptime/aiuptime/slo"
	"github.com/aiuptime/aiuptime/stack/stackfile"
)

func init() { addCommand(newValidateCmd) }

// loadPlan reads a plan given as a path, or as the bare name of a shipped
// plan (quarterly-dr, quarterly-dr.yaml). A path that does not exist is an
// error, never a shipped plan of the same name. Errors carry exit code 2
// with file:line:col.
func loadPlan(arg string) (*plan.Plan, error) {
	if _, err := os.Stat(arg); err == nil {
		return plan.LoadFile(arg)
	}
	if strings.ContainsRune(arg, os.PathSeparator) {
		return nil, &plan.Error{File: arg, Msg: "no such plan file (a shipped plan is named without a directory: see drill list)"}
	}
	name := strings.TrimSuffix(strings.TrimSuffix(arg, ".yml"), ".yaml") + ".yaml"
	b, err := plans.Read(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &plan.Error{File: arg, Msg: "no such plan file, and no shipped plan of that name (see drill list)"}
		}
		return nil, exitcode.Wrap(exitcode.Usage, fmt.Errorf("plan %s: %w", arg, err))
	}
	p, err := plan.Parse("plans/"+name+" (shipped)", b)
	if p != nil && err == nil {
		p.File = "" // relative paths of a shipped plan resolve against the working dir
	}
	return p, err
}

// loadStack reads the stack file a run uses (the flag, else the plan's;
// "" is the embedded stack) and checks the plan against what it offers.
func loadStack(ctx context.Context, p *plan.Plan, flag string) (*stackfile.File, hostcaps.Kernel, error) {
	sf := p.StackFile()
	if flag != "" {
		sf = flag
	}
	f, err := stackfile.LoadOrEmbedded(sf)
	if err != nil {
		return nil, hostcaps.Kernel{}, err
	}
	k, perr := hostcaps.Probe(ctx)
	if perr != nil {
		logger.Warn("kernel capability probe failed", "err", perr)
	}
	return f, k, p.CheckStack(f.Shape(k))
}

func newValidateCmd() *cobra.Command {
	var stackFlag string
	cmd := &cobra.Command{
		Use:   "validate PLAN...",
		Short: "Check plans without running them (exit 2 with file:line:col on errors)",
		Long: `Validate decodes each plan strictly and checks it: unknown keys, bad values
(a zero or overflowing duration), unknown fault and action kinds and their
params, step structure, the k6 script, and what the stack it runs on can do
(its stack file, or --stack, itself validated): a fault whose capability the
stack lacks, a target that is not one of its services or a share of a role it
cannot give ({role: model, count: 3} of 2 replicas). Host-level names (eth0,
lo, host, a bare number) are never targets. Plans and stack files over 1 MiB,
nested deeper than 64 levels or with aliases standing for more than 20000
nodes are refused before they are decoded. An attached stack's services are
known only once it is opened: drill run checks them then, before anything
acts. Nothing is started. PLAN is a file, or the bare name of a shipped plan
(quarterly-dr; see drill list): a path that does not exist is an error.

An OpenSLO v1 file (apiVersion openslo/v1, as a plan's slo.openslo names)
is validated as such: every SLO and SLI object strictly, each objective
mapped onto what the drill measures, and the ones it cannot evaluate listed
with the reason.`,
		Args: cobra.MinimumNArgs(1),
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return plans.Names(), cobra.ShellCompDirectiveDefault
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			var errs []error
			for _, a := range args {
				if ok, err := validateOpenSLO(cmd.OutOrStdout(), a); ok {
					if err != nil {
						errs = append(errs, err)
					}
					continue
				}
				p, err := loadPlan(a)
				if err == nil {
					_, _, err = loadStack(cmd.Context(), p, stackFlag)
				}
				if err != nil {
					errs = append(errs, err)
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: ok: plan %s, %d steps, at least %s\n", a, p.Name, len(p.Steps), minDuration(p))
			}
			return exitcode.Wrap(exitcode.Usage, errors.Join(errs...))
		},
	}
	cmd.Flags().StringVar(&stackFlag, "stack", "", "validate against this stack file (default: the plan's stack)")
	_ = cmd.MarkFlagFilename("stack", "yaml", "yml")
	return cmd
}

// validateOpenSLO validates arg as an OpenSLO file when it is one (ok
// false: it is not, validate it as a plan) and prints what a drill would
// judge of it.
func validateOpenSLO(w io.Writer, arg string) (ok bool, err error) {
	if fi, err := os.Stat(arg); err != nil || !fi.Mode().IsRegular() {
		return false, nil // the plan loader says what is wrong with it
	}
	f, err := os.Open(arg)
	if err != nil {
		return false, nil
	}
	head, _ := io.ReadAll(io.LimitReader(f, 64<<10))
	f.Close()
	if !slo.IsOpenSLO(head) {
		return false, nil
	}
	set, err := slo.LoadOpenSLO(arg)
	if err != nil {
		return true, err
	}
	var skipped []string
	for _, o := range set.Objectives {
		if o.NotEvaluated != "" {
			skipped = append(skipped, o.Name+": "+o.NotEvaluated)
		}
	}
	fmt.Fprintf(w, "%s: ok: OpenSLO, %d objectives (%d not evaluated by a drill), %d Prometheus ratio SLIs for rules\n",
		arg, len(set.Objectives), len(skipped), len(set.Ratios))
	for _, s := range skipped {
		fmt.Fprintf(w, "  not evaluated: %s\n", s)
	}
	return true, nil
}

// minDuration is the plan's waits and fault durations: a lower bound of its wall time.
func minDuration(p *plan.Plan) time.Duration {
	var d time.Duration
	for _, s := range p.Steps {
		d += s.Wait.D() + s.Duration.D()
	}
	return d
}

// planBase is a plan file's name without its directory, for messages.
func planBase(p *plan.Plan) string { return filepath.Base(p.File) }
