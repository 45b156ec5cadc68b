package chaos

import (
	"context"
	"errors"
	"fmt"

	"github.com/aiuptime/aiuptime/stack"
)

// Planned is a fault of a decoded spec on one service, resolved when it is
// injected (or described for a dry run): the stack must offer the kind's
// capabilities, the service is re-read (a restarted container has a new
// pid), its ownership is proven, and only then does the kind's builder run.
type Planned struct {
	env    Env
	spec   Spec
	target string

	concrete Fault
}

var _ Fault = (*Planned)(nil)

// Plan returns the fault of spec on the service named target of env.Stack.
func Plan(env Env, spec Spec, target string) *Planned {
	return &Planned{env: env, spec: spec, target: target}
}

// Name is "<kind> on <service>".
func (f *Planned) Name() string { return f.spec.Kind.Name + " on " + f.target }

// Kind is the fault kind's name.
func (f *Planned) Kind() string { return f.spec.Kind.Name }

// Target is the service name.
func (f *Planned) Target() string { return f.target }

// Instant reports whether the kind acts once and leaves nothing in force.
func (f *Planned) Instant() bool { return f.spec.Kind.Instant }

// Concrete is the kind's fault (nil before Inject or Describe).
func (f *Planned) Concrete() Fault { return f.concrete }

// Mechanism says how the fault acted or will act ("" before it was resolved).
func (f *Planned) Mechanism() string {
	if f.concrete == nil {
		return ""
	}
	return MechanismOf(f.concrete)
}

// Inject resolves the target and injects the kind's fault.
func (f *Planned) Inject(ctx context.Context) (Revert, error) {
	c, err := f.resolve(ctx)
	if err != nil {
		return NoRevert, err
	}
	return c.Inject(ctx)
}

// Describe lists exactly what Inject would do, resolving the target now.
func (f *Planned) Describe(ctx context.Context) ([]string, error) {
	c, err := f.resolve(ctx)
	if err != nil {
		return nil, err
	}
	head := fmt.Sprintf("target %s of the %s stack (container %.12s, run %q)", f.target, f.env.Stack.Kind(), f.svcContainer(ctx), f.env.Stack.RunID())
	if d, ok := c.(Describer); ok {
		steps, err := d.Describe(ctx)
		return append([]string{head}, steps...), err
	}
	return []string{head, "inject " + c.Name()}, nil
}

func (f *Planned) svcContainer(ctx context.Context) string {
	svc, _ := f.env.Stack.Service(ctx, f.target)
	return svc.ContainerID
}

func (f *Planned) resolve(ctx context.Context) (Fault, error) {
	k := f.spec.Kind
	if miss := stack.Missing(k.Needs, stack.CapabilitiesOf(f.env.Stack)); len(miss) > 0 {
		sh := stack.Shape{Kind: f.env.Stack.Kind(), Capabilities: stack.CapabilitiesOf(f.env.Stack)}
		return nil, fmt.Errorf("%w: %s", ErrUnsupported, sh.MissingText(k.Name, k.Needs))
	}
	if ol, ok := f.env.Stack.(stack.OpLister); ok {
		sh := stack.Shape{Kind: f.env.Stack.Kind(), Ops: ol.Ops()}
		if msg := sh.MissingOps(k.Name, k.NeedsOps); msg != "" {
			return nil, fmt.Errorf("%w: %s", ErrUnsupported, msg)
		}
	}
	svc, err := f.env.Stack.Service(ctx, f.target)
	if err != nil {
		if errors.Is(err, stack.ErrNotFound) {
			return nil, fmt.Errorf("target %q: %w", f.target, ErrNotInStack)
		}
		return nil, fmt.Errorf("target %q: %w", f.target, err)
	}
	if err := f.owned(ctx); err != nil {
		return nil, err
	}
	c, err := k.build(ctx, f.env, svc, f.spec.value)
	if err != nil {
		return nil, fmt.Errorf("%s on %s: %w", k.Name, f.target, err)
	}
	f.concrete = c
	return c, nil
}

// owned proves the target belongs to the stack before anything acts on it.
// A kind that acts through a capability needs the proof; a stack without
// an Owner cannot give it, and nothing is done.
func (f *Planned) owned(ctx context.Context) error {
	if len(f.spec.Kind.Needs) == 0 {
		return nil
	}
	o, ok := f.env.Stack.(stack.Owner)
	if !ok {
		return fmt.Errorf("target %q: the %s stack cannot prove it owns it: %w", f.target, f.env.Stack.Kind(), stack.ErrNotOwned)
	}
	if err := o.Owns(ctx, f.target); err != nil {
		return fmt.Errorf("target %q: %w", f.target, err)
	}
	return nil
}
