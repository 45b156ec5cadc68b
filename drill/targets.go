package drill

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/aiuptime/aiuptime/drill/plan"
	"github.com/aiuptime/aiuptime/stack"
)

// A step's targets are resolved once, when the step starts, and every
// path that acts for the step (the fault of each target, an action, an
// await's health checks, the report) reads that one list: a share of a
// role ({role: model, count: 1}) hurts exactly the services chosen, never
// the whole role. The choice is the plan's seed's (see plan.Target.Pick).

// sharedTargetsPrefix keys a step's resolved targets in the run's shared
// values (ActionEnv.Shared), by step name.
const sharedTargetsPrefix = "targets."

// StepTargets returns the services a step's target resolved to in this
// run (nil before the step ran, or for a step without a target). Actions
// act on exactly these.
func StepTargets(env *ActionEnv, step string) []string {
	if env == nil {
		return nil
	}
	return loadTargets(env.Shared, step)
}

// loadTargets reads a step's resolved targets from the run's shared values.
func loadTargets(shared *sync.Map, step string) []string {
	if shared == nil {
		return nil
	}
	v, ok := shared.Load(sharedTargetsPrefix + step)
	if !ok {
		return nil
	}
	return slices.Clone(v.([]string))
}

// NewSeed returns a random seed for a run given none.
func NewSeed() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint64(b[:]) >> 11 // exact as a JSON number (53 bits)
}

// seed returns the run's seed: the plan's (drill run --seed), else one
// chosen now and kept in the plan, so that the report records it and a
// rerun with it picks the same targets.
func (r *Runner) seed() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.plan.Seed == nil {
		s := NewSeed()
		r.plan.Seed = &s
	}
	return *r.plan.Seed
}

// ShapeOf lists the live services of st as the shape targets resolve
// against (name and role, in the stack's order).
func ShapeOf(ctx context.Context, st stack.Stack) (stack.Shape, error) {
	svcs, err := st.Services(ctx)
	if err != nil {
		return stack.Shape{}, fmt.Errorf("list the services of the stack: %w", err)
	}
	sh := stack.Shape{Kind: st.Kind(), Capabilities: stack.CapabilitiesOf(st)}
	for _, s := range svcs {
		sh.Services = append(sh.Services, stack.ShapeService{Name: s.Name, Role: s.Role})
	}
	return sh, nil
}

// resolveStep resolves the step's target against the live stack with the
// run's seed and keeps the result for the step (nil for a step without a
// target).
func (r *Runner) resolveStep(ctx context.Context, s plan.Step) ([]string, error) {
	if s.Target == nil {
		return nil, nil
	}
	sh, err := ShapeOf(ctx, r.stack)
	if err != nil {
		return nil, fmt.Errorf("select targets: %w", err)
	}
	names, err := s.Target.Pick(sh.Services, r.seed(), s.Name)
	if err != nil {
		return nil, fmt.Errorf("select targets: %w", err)
	}
	r.shared.Store(sharedTargetsPrefix+s.Name, names)
	return slices.Clone(names), nil
}

// pick returns the services target t of a step resolved to: the step's
// list when it was resolved (always, once the step started), else a
// resolution now (a dry run describing the step).
func (r *Runner) pick(ctx context.Context, t *plan.Target) ([]string, error) {
	for _, s := range r.plan.Steps {
		if s.Target != t {
			continue
		}
		if names := loadTargets(&r.shared, s.Name); names != nil {
			return names, nil
		}
		return r.resolveStep(ctx, s)
	}
	return nil, fmt.Errorf("select targets: target %s is no step's", t)
}

// resolvedTarget renders a step's target for the report: the services hit,
// and for a share of a role what the plan asked ("model-2 (1 of role
// model)").
func resolvedTarget(t *plan.Target, names []string) string {
	if t == nil {
		return ""
	}
	if len(names) == 0 || len(t.Names) > 0 {
		return t.String()
	}
	return strings.Join(names, ",") + " (" + t.String() + ")"
}
