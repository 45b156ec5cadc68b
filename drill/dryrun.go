package drill

import (
	"context"
	"fmt"

	"github.com/aiuptime/aiuptime/chaos/faults"
)

// dryRun prints what each step would do, changing nothing. Fault steps are
// resolved against the stack and print their exact operations.
func (r *Runner) dryRun(ctx context.Context) error {
	w := r.o.dryOut
	fmt.Fprintf(w, "plan %s: %d steps against a %s stack (dry run: nothing is changed)\n", r.plan.Name, len(r.plan.Steps), r.stack.Kind())
	for i, s := range r.plan.Steps {
		fmt.Fprintf(w, "%2d. %s [%s]\n", i+1, s.Name, s.Kind())
		switch s.Kind() {
		case StepWait:
			fmt.Fprintf(w, "    wait %s\n", s.Wait.D())
		case StepAwait:
			fmt.Fprintf(w, "    await %s (timeout %s)\n", s.Await.String(), s.Timeout.D())
		case StepRevert:
			fmt.Fprintf(w, "    revert the faults of step %q\n", s.Revert)
		case StepAction:
			_, ok := LookupAction(s.Action)
			fmt.Fprintf(w, "    action %s on %s params %v (implemented: %v)\n", s.Action, targetString(s.Target), s.Params, ok)
		case StepFault:
			fs, err := faults.BuildSelected(ctx, s.Fault, s.Params, selector(s.Target), r.faultEnv(true))
			if err != nil {
				return exitErr(ExitHarness, fmt.Errorf("step %q: %w", s.Name, err))
			}
			for _, f := range fs {
				if _, err := f.Inject(ctx); err != nil {
					return exitErr(ExitHarness, fmt.Errorf("step %q: %w", s.Name, err))
				}
			}
			if s.Duration > 0 {
				fmt.Fprintf(w, "    hold %s, then revert\n", s.Duration.D())
			} else {
				fmt.Fprintf(w, "    hold until a revert step or the end of the drill\n")
			}
		}
	}
	return nil
}

func targetString(t *Target) string {
	if t == nil {
		return "(default)"
	}
	return t.String()
}
