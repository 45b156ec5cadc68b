package drill

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/drill/plan"
	"github.com/aiuptime/aiuptime/reports"
	"github.com/aiuptime/aiuptime/stack"
	"github.com/aiuptime/aiuptime/uptime"
)

// Action performs a plan action (rolling-update, blue-green, canary, backup,
// restore, rollback, ...) against the stack.
type Action interface {
	Run(ctx context.Context, env *ActionEnv, step plan.Step) (*ActionOutcome, error)
}

// ActionFunc adapts a function to Action.
type ActionFunc func(ctx context.Context, env *ActionEnv, step plan.Step) (*ActionOutcome, error)

// Run calls f.
func (f ActionFunc) Run(ctx context.Context, env *ActionEnv, step plan.Step) (*ActionOutcome, error) {
	return f(ctx, env, step)
}

// ActionEnv is what an action gets from the runner.
type ActionEnv struct {
	Plan  *plan.Plan
	Stack stack.Stack
	Log   *slog.Logger
	// Traffic is the probe's recent results, for analyses over intervals
	// (canary: per-backend error rate and latency against the baseline).
	Traffic *TrafficLog
	// Event puts an event on the drill's timeline.
	Event func(uptime.Event)
	// StateDir is where actions keep state between steps (backups).
	StateDir string
	// Shared holds values one action leaves for a later one (the last
	// backup for a restore, the rollout to roll back), by key.
	Shared *sync.Map
	// Journal is the drill's revert journal: an action that changes the
	// stack journals how to undo it before it starts (a Deployment
	// rollout), so `drill cleanup` undoes it after a crash. May be nil.
	Journal *chaos.Journal
}

// ActionOutcome is what an action reports; the runner copies it into the
// report.
type ActionOutcome struct {
	// Detail is one line for logs and the step's report entry.
	Detail string
	// Rollout is set by rollouts.
	Rollout *reports.Rollout
	// DR is merged into the report's dr section by backups and restores.
	DR *reports.DR
	// Validation is set by validate (the report's validations).
	Validation *reports.Validation
	// Failed marks a deviation (a rolled-back canary is not a failure; a
	// failed golden-prompt check after a restore is).
	Failed bool
}

var (
	actionsMu sync.RWMutex
	actions   = map[string]Action{}
)

// RegisterAction implements an action kind of plan.ActionKinds. It panics
// on a duplicate or a kind the plan table does not describe, which are
// programming errors.
func RegisterAction(kind string, a Action) {
	if _, err := plan.LookupAction(kind); err != nil {
		panic(fmt.Sprintf("drill: action %q: %v", kind, err))
	}
	actionsMu.Lock()
	defer actionsMu.Unlock()
	if _, dup := actions[kind]; dup {
		panic(fmt.Sprintf("drill: action %q registered twice", kind))
	}
	actions[kind] = a
}

// LookupAction returns the registered action of a kind.
func LookupAction(kind string) (Action, bool) {
	actionsMu.RLock()
	defer actionsMu.RUnlock()
	a, ok := actions[kind]
	return a, ok
}

// RegisteredActions lists the action kinds with an implementation.
func RegisteredActions() []string {
	actionsMu.RLock()
	defer actionsMu.RUnlock()
	out := make([]string, 0, len(actions))
	for k := range actions {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
