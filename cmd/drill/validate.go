package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/aiuptime/aiuptime/chaos/faults"
	"github.com/aiuptime/aiuptime/drill"
	"github.com/aiuptime/aiuptime/plans"
)

func init() { addCommand(newValidateCmd) }

// planOptions are the decoder options every command uses: the kind
// validators of the registries. Faults are checked by chaos/faults, the
// authority on kinds and params; actions still by drill's built-in table
// until the rollout/backup registries are wired here.
var planOptions = func() []drill.PlanOption {
	return []drill.PlanOption{drill.WithFaultValidator(faults.Validate)}
}

func init() {
	// `drill list` and `drill schema` show the chaos registry's kinds.
	drill.ListFaultKinds = func() []drill.KindInfo {
		var out []drill.KindInfo
		for _, k := range faults.Kinds() {
			ki := drill.KindInfo{Name: k.Name, Doc: k.Description}
			for _, p := range k.Params {
				ki.Params = append(ki.Params, drill.ParamInfo{Name: p.Name, Type: p.Type, Doc: p.Doc, Default: p.Default, Required: p.Required})
			}
			out = append(out, ki)
		}
		return out
	}
}

// loadPlan reads a plan given as a path, or as the name of a shipped plan
// (quarterly-dr, quarterly-dr.yaml, plans/quarterly-dr.yaml) when no such
// file exists. Errors carry exit code 2 with file:line:col.
func loadPlan(arg string) (*drill.Plan, error) {
	if _, err := os.Stat(arg); err == nil {
		p, err := drill.LoadPlan(arg, planOptions()...)
		return p, withExit(ExitUsage, err)
	}
	b, err := plans.Read(filepath.Base(arg))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, withExit(ExitUsage, fmt.Errorf("plan %s: no such file, and no shipped plan of that name (see drill list)", arg))
		}
		return nil, withExit(ExitUsage, fmt.Errorf("plan %s: %w", arg, err))
	}
	name := filepath.Base(arg)
	if !strings.HasSuffix(name, ".yaml") {
		name += ".yaml"
	}
	p, err := drill.ParsePlan("plans/"+name+" (embedded)", b, planOptions()...)
	if p != nil && err == nil {
		p.File = "" // relative paths of an embedded plan resolve against the working dir
	}
	return p, withExit(ExitUsage, err)
}

func newValidateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate PLAN...",
		Short: "Check plans without running them (exit 2 with file:line:col on errors)",
		Long: `Validate decodes each plan strictly and checks it: unknown keys, bad values,
unknown fault and action kinds and their params, step structure. Nothing is
started. PLAN is a file or the name of a shipped plan (see drill list).`,
		Args: cobra.MinimumNArgs(1),
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return plans.Names(), cobra.ShellCompDirectiveDefault
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			var errs []error
			for _, a := range args {
				p, err := loadPlan(a)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: ok: plan %s, %d steps, at least %s\n", a, p.Name, len(p.Steps), minDuration(p))
			}
			return withExit(ExitUsage, errors.Join(errs...))
		},
	}
}

// minDuration is the plan's waits and fault durations: a lower bound of its wall time.
func minDuration(p *drill.Plan) time.Duration {
	var d time.Duration
	for _, s := range p.Steps {
		d += s.Wait.D() + s.Duration.D()
	}
	return d
}
