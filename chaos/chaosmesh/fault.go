package chaosmesh

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/stack/kubernetes"
)

// Mechanism is the mechanism of every kind of the package.
const Mechanism = "chaos-mesh"

// What a fault does when its object exists but no Chaos Mesh controller
// puts it in force (Common.Unenforced).
const (
	// UnenforcedFail fails the injection (the step errors; the object is
	// deleted): a hypothesis judged against a fault that never acted
	// would be a false result. The default.
	UnenforcedFail = "fail"
	// UnenforcedWarn keeps the step going with the object in place and
	// the mechanism reading "chaos-mesh (created, not enforced: ...)":
	// for clusters with the CRDs and no controller (the kwok tier), where
	// what is drilled is the objects' life cycle, not their effect.
	UnenforcedWarn = "warn"
)

// Defaults of the params every kind takes.
const (
	DefaultChaosDuration  = 10 * time.Minute
	DefaultEnforceTimeout = 30 * time.Second
)

// ErrNotEnforced means the object was created but Chaos Mesh did not put
// the fault in force.
var ErrNotEnforced = errors.New("created, not enforced")

// Common are the params every kind takes.
type Common struct {
	// ChaosDuration is the object's spec.duration: Chaos Mesh recovers the
	// fault after it even when the drill is gone.
	ChaosDuration time.Duration
	// EnforceTimeout bounds the wait for the controller's status.
	EnforceTimeout time.Duration
	// Unenforced is UnenforcedFail or UnenforcedWarn.
	Unenforced string
}

// Fault is one Chaos Mesh object on one target: journaled, created,
// watched until in force; its revert deletes it and waits until it is
// gone.
type Fault struct {
	// Kind is the fault kind's name.
	Kind   string
	Target Target
	Conn   kubernetes.Conn
	Deps   chaos.Deps
	Common Common
	// Short names the object (aiuptime-<short>-<record id>).
	Short string
	// Build makes the typed object from its identity.
	Build func(Meta) runtime.Object

	mu        sync.Mutex
	mechanism string
	object    runtime.Object
}

var (
	_ chaos.Fault       = (*Fault)(nil)
	_ chaos.Mechanismer = (*Fault)(nil)
	_ chaos.Describer   = (*Fault)(nil)
)

// Name is "<kind> on <service>".
func (f *Fault) Name() string { return f.Kind + " on " + f.Target.Service }

// Mechanism is "chaos-mesh", with "(created, not enforced: why)" when the
// object exists but nothing put it in force.
func (f *Fault) Mechanism() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.mechanism == "" {
		return Mechanism
	}
	return f.mechanism
}

// Object is the object Inject created (nil before).
func (f *Fault) Object() runtime.Object {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.object
}

// Describe lists what Inject does.
func (f *Fault) Describe(context.Context) ([]string, error) {
	o := f.Build(Meta{Name: ObjectName(f.Short, "<record>"), Run: f.Deps.RunID, Record: "<record>"})
	return []string{
		fmt.Sprintf("journal the deletion of a %s in namespace %s (undo %s)", kindOf(o), f.Target.Pod.Namespace, Undo),
		fmt.Sprintf("create %s aiuptime-%s-<record> selecting exactly pod %s (mode one), duration %s, labels %s=%s %s=%s",
			kindOf(o), f.Short, f.Target.Pod, f.Common.ChaosDuration, LabelManagedBy, ManagedBy, LabelRun, labelValue(f.Deps.RunID)),
		fmt.Sprintf("wait up to %s until Chaos Mesh reports it injected (unenforced: %s)", f.Common.EnforceTimeout, f.Common.Unenforced),
		"revert: delete the object and wait until it is gone",
	}, nil
}

// Inject journals the object's deletion, creates it and waits until
// Chaos Mesh reports the fault in force (see Common.Unenforced).
func (f *Fault) Inject(ctx context.Context) (chaos.Revert, error) {
	c, err := NewClient(f.Conn)
	if err != nil {
		return chaos.NoRevert, err
	}
	id := chaos.NewID()
	meta := Meta{Name: ObjectName(f.Short, id), Run: f.Deps.RunID, Record: id}
	obj := f.Build(meta)
	kind, ns := kindOf(obj), f.Target.Pod.Namespace
	st := State{Conn: f.Conn, Namespace: ns, Kind: kind, Name: meta.Name, Labels: meta.Labels()}
	rec := chaos.Record{ID: id, Kind: f.Kind, Target: f.Target.Service, Reverter: Undo, Mechanism: Mechanism,
		Note: fmt.Sprintf("Chaos Mesh %s %s/%s", kind, ns, meta.Name)}
	rev, entry, err := chaos.Apply(ctx, f.Deps, rec, st, func(ctx context.Context) error { return c.Create(ctx, obj, ns) })
	if entry == nil {
		return chaos.NoRevert, err // not journaled: nothing was created
	}
	revert := f.revert(st, rev)
	if err != nil {
		return revert, err
	}
	f.mu.Lock()
	f.object = obj
	f.mu.Unlock()
	log := f.Deps.Logger().With("kind", kind, "object", ns+"/"+meta.Name, "pod", f.Target.Pod.String())
	why, err := f.enforced(ctx, c, kind, ns, meta.Name)
	if err != nil {
		return revert, err
	}
	if why == "" {
		log.Info("chaos mesh fault in force")
		return revert, nil
	}
	f.mu.Lock()
	f.mechanism = fmt.Sprintf("%s (created, not enforced: %s)", Mechanism, why)
	f.mu.Unlock()
	log.Warn("chaos mesh object created, not enforced", "why", why, "unenforced", f.Common.Unenforced)
	if f.Common.Unenforced == UnenforcedWarn {
		return revert, nil
	}
	return revert, fmt.Errorf("%s %s/%s %w: %s (params.unenforced: warn accepts this)", kind, ns, meta.Name, ErrNotEnforced, why)
}

// enforced returns "" once the status says the fault is in force, or why
// it is not: no controller runs (found at once by listing its pods), or
// its status did not say so within EnforceTimeout.
func (f *Fault) enforced(ctx context.Context, c *Client, kind, ns, name string) (string, error) {
	ctrl, cerr := c.Controller(ctx)
	if errors.Is(cerr, ErrNoController) {
		return "no Chaos Mesh controller", nil
	}
	st, in, err := c.AwaitInForce(ctx, kind, ns, name, f.Common.EnforceTimeout)
	if err != nil || in {
		return "", err
	}
	if cerr != nil {
		return fmt.Sprintf("status untouched within %s (no Chaos Mesh controller seen: %v)", f.Common.EnforceTimeout, cerr), nil
	}
	return fmt.Sprintf("controller %s did not report it injected within %s (desired phase %q, %d records)",
		ctrl, f.Common.EnforceTimeout, st.Experiment.DesiredPhase, len(st.Experiment.Records)), nil
}

// revert deletes the object (noting finalizers the drill had to remove)
// and then runs the journaled revert, which finds it gone and closes the
// record.
func (f *Fault) revert(st State, journaled chaos.Revert) chaos.Revert {
	return func(ctx context.Context) error {
		d, err := st.revert(ctx)
		if err != nil {
			return fmt.Errorf("delete %s %s/%s: %w", st.Kind, st.Namespace, st.Name, err)
		}
		if len(d.RemovedFinalizers) > 0 {
			f.Deps.Logger().Warn("chaos mesh object deleted: no controller cleared its finalizers, the drill removed them",
				"object", st.Namespace+"/"+st.Name, "finalizers", d.RemovedFinalizers)
		}
		return journaled(ctx)
	}
}
