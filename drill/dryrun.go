package drill

import (
	"context"
	"fmt"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/drill/plan"
	"github.com/aiuptime/aiuptime/exitcode"
	"github.com/aiuptime/aiuptime/hostcaps"
)

// dryRun prints what each step would do, changing nothing. Fault steps are
// resolved against the stack and print their exact operations.
func (r *Runner) dryRun(ctx context.Context) error {
	w := r.o.dryOut
	env := chaos.Env{Stack: r.stack, Kernel: r.kernelOrProbe(ctx), Log: r.o.log}
	fmt.Fprintf(w, "plan %s: %d steps against a %s stack (dry run: nothing is changed)\n", r.plan.Name, len(r.plan.Steps), r.stack.Kind())
	fmt.Fprintf(w, "seed %d: shares of a role pick the same services again with --seed %d\n", r.seed(), r.seed())
	for i, s := range r.plan.Steps {
		fmt.Fprintf(w, "%2d. %s [%s]\n", i+1, s.Name, s.Kind())
		names, err := r.resolveStep(ctx, s)
		if err != nil {
			return exitcode.Wrap(exitcode.Usage, fmt.Errorf("step %q: %w", s.Name, err))
		}
		if s.Target != nil {
			fmt.Fprintf(w, "    targets %s\n", resolvedTarget(s.Target, names))
		}
		switch s.Kind() {
		case plan.StepWait:
			fmt.Fprintf(w, "    wait %s\n", s.Wait.D())
		case plan.StepAwait:
			fmt.Fprintf(w, "    await %s (timeout %s)\n", s.Await.String(), s.Timeout.D())
		case plan.StepRevert:
			fmt.Fprintf(w, "    revert the faults of step %q\n", s.Revert)
		case plan.StepAction:
			_, ok := LookupAction(s.Action)
			fmt.Fprintf(w, "    action %s on %s params %v (implemented: %v)\n", s.Action, orDefault(resolvedTarget(s.Target, names)), s.Params, ok)
		case plan.StepFault:
			if err := r.describeFault(ctx, s, env); err != nil {
				return exitcode.Wrap(exitcode.Harness, fmt.Errorf("step %q: %w", s.Name, err))
			}
		}
	}
	return nil
}

func (r *Runner) describeFault(ctx context.Context, s plan.Step, env chaos.Env) error {
	fs, err := r.planFaults(ctx, s, env)
	if err != nil {
		return err
	}
	for _, f := range fs {
		if _, err := chaos.DryRun(f, r.o.dryOut).Inject(ctx); err != nil {
			return err
		}
	}
	if s.Duration > 0 {
		fmt.Fprintf(r.o.dryOut, "    hold %s, then revert\n", s.Duration.D())
	} else {
		fmt.Fprintf(r.o.dryOut, "    hold until a revert step or the end of the drill\n")
	}
	return nil
}

func (r *Runner) kernelOrProbe(ctx context.Context) hostcaps.Kernel {
	if r.o.kernel != nil {
		return *r.o.kernel
	}
	k, _ := hostcaps.Probe(ctx)
	return k
}

func orDefault(s string) string {
	if s == "" {
		return "(default)"
	}
	return s
}
