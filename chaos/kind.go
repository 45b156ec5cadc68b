package chaos

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sort"
	"strings"
	"sync"

	"github.com/aiuptime/aiuptime/hostcaps"
	"github.com/aiuptime/aiuptime/param"
	"github.com/aiuptime/aiuptime/stack"
)

// ErrUnknownKind is returned for a fault kind nobody registered.
var ErrUnknownKind = errors.New("unknown fault kind")

// Env is what a kind's builder and audit get: the stack under test, whose
// capabilities are the only way to act on it, the run's kernel probe, the
// revert journal and a logger.
type Env struct {
	Stack   stack.Stack
	Kernel  hostcaps.Kernel
	Journal *Journal
	Log     *slog.Logger
	// RunID names the drill's run in journal records when the stack is no
	// embedded run of its own (an attached deployment); default: the
	// stack's.
	RunID string
}

// Deps are the journaling dependencies of a fault built in env: the run id
// and the stack's ownership labels go into every record.
func (e Env) Deps() Deps {
	d := Deps{Journal: e.Journal, Log: e.Log}
	if id, ok := stack.IdentityOf(e.Stack); ok {
		d.RunID, d.Labels = id.Run, id.Labels
	}
	if d.RunID == "" && e.Stack != nil {
		d.RunID = e.Stack.RunID()
	}
	if d.RunID == "" {
		d.RunID = e.RunID
	}
	return d
}

// Def describes a fault kind whose decoded params are an S. It is the one
// place a kind is described: plan validation, `drill list`, the plan JSON
// Schema, the dry run, `drill doctor` and journal replay all read it. A kind
// package registers its Def from init (Register), like a Toxiproxy toxic.
type Def[S any] struct {
	// Name is the plan's `fault:` value.
	Name string
	// Description says in one line what the kind does.
	Description string
	// Params are the kind's typed params.
	Params []param.Spec
	// Needs are the stack capabilities the kind acts through; a stack
	// without them is refused at validation.
	Needs []stack.Capability
	// NeedsOps are the lifecycle operations the kind performs; a stack
	// whose provider performs only some (stack.OpLister) is refused at
	// validation when one is missing.
	NeedsOps []stack.Op
	// Mechanisms are the ways the kind may act (netem, toxiproxy, ...).
	Mechanisms []string
	// Instant kinds act once and leave nothing in force to revert (a
	// signal, a restart): what follows is the stack's own recovery.
	Instant bool
	// Decode turns decoded params into the kind's spec, checking what
	// spans params; errors are *param.Error.
	Decode func(v param.Values) (S, error)
	// Build returns the fault for one service of env.Stack, which the
	// caller has re-read and proved to own.
	Build func(ctx context.Context, env Env, target stack.Service, spec S) (Fault, error)
	// Audit looks for what the kind may have left behind on a service
	// (optional); it changes nothing.
	Audit func(ctx context.Context, env Env, svc stack.Service) []Finding
}

// Kind is a registered fault kind.
type Kind struct {
	Name        string             `json:"name"`
	Description string             `json:"description"`
	Params      []param.Spec       `json:"params"`
	Needs       []stack.Capability `json:"needs"`
	NeedsOps    []stack.Op         `json:"needs_ops,omitempty"`
	Mechanisms  []string           `json:"mechanisms"`
	Instant     bool               `json:"instant,omitempty"`

	decode func(param.Values) (any, error)
	build  func(context.Context, Env, stack.Service, any) (Fault, error)
	audit  func(context.Context, Env, stack.Service) []Finding
}

var (
	kindsMu sync.RWMutex
	kinds   = map[string]Kind{}
)

// Register adds a fault kind. It panics on a duplicate or incomplete
// definition, a programming error caught by any test that links the kind.
func Register[S any](d Def[S]) {
	if d.Name == "" || d.Description == "" || d.Decode == nil || d.Build == nil || len(d.Mechanisms) == 0 {
		panic(fmt.Sprintf("chaos: fault kind %q is incomplete", d.Name))
	}
	for _, p := range d.Params {
		if p.Default == "" {
			continue
		}
		if _, err := p.Parse(p.Default); err != nil {
			panic(fmt.Sprintf("chaos: fault kind %s: default of %s: %v", d.Name, p.Name, err))
		}
	}
	k := Kind{
		Name: d.Name, Description: d.Description, Params: d.Params, Needs: d.Needs, NeedsOps: d.NeedsOps,
		Mechanisms: d.Mechanisms, Instant: d.Instant,
		decode: func(v param.Values) (any, error) { return d.Decode(v) },
		build: func(ctx context.Context, env Env, svc stack.Service, spec any) (Fault, error) {
			return d.Build(ctx, env, svc, spec.(S))
		},
	}
	if d.Audit != nil {
		k.audit = d.Audit
	}
	kindsMu.Lock()
	defer kindsMu.Unlock()
	if _, dup := kinds[d.Name]; dup {
		panic("chaos: fault kind registered twice: " + d.Name)
	}
	kinds[d.Name] = k
}

// Kinds lists the registered kinds in name order.
func Kinds() []Kind {
	kindsMu.RLock()
	defer kindsMu.RUnlock()
	out := make([]Kind, 0, len(kinds))
	for _, k := range kinds {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// KindNames lists the registered kind names in order.
func KindNames() []string {
	ks := Kinds()
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = k.Name
	}
	return out
}

// LookupKind returns the registered kind; an unknown name is an error
// wrapping ErrUnknownKind that lists the known ones.
func LookupKind(name string) (Kind, error) {
	kindsMu.RLock()
	k, ok := kinds[name]
	kindsMu.RUnlock()
	if !ok {
		return Kind{}, fmt.Errorf("%w %q (known: %s)", ErrUnknownKind, name, strings.Join(KindNames(), ", "))
	}
	return k, nil
}

// Spec is the decoded params of one fault step.
type Spec struct {
	Kind  Kind
	value any
}

// Decode checks a step's params against the kind and decodes them; errors
// are *param.Error naming the param.
func (k Kind) Decode(raw map[string]any) (Spec, error) {
	v, err := param.Decode(k.Name, k.Params, raw)
	if err != nil {
		return Spec{}, err
	}
	s, err := k.decode(v)
	if err != nil {
		return Spec{}, err
	}
	return Spec{Kind: k, value: s}, nil
}

// Value is the kind's typed spec (for tests and reports).
func (s Spec) Value() any { return s.value }

// Finding is one thing left behind, found by an audit.
type Finding struct {
	// What: journal, qdisc, link-down, nftables, container-paused,
	// container-stopped, toxic, readonly-mount, immutable-files, filler,
	// stopped-process, leftover-container, leftover-network, leftover-volume.
	What string `json:"what"`
	// Where names the service, container, file or proxy.
	Where  string `json:"where"`
	Detail string `json:"detail"`
	// Run is the run the finding belongs to ("" when unknown).
	Run string `json:"run,omitempty"`
}

// String renders one finding line.
func (f Finding) String() string { return fmt.Sprintf("%-18s %-24s %s", f.What, f.Where, f.Detail) }

// AuditServices runs every kind's audit on every service of env.Stack.
func AuditServices(ctx context.Context, env Env) ([]Finding, error) {
	svcs, err := env.Stack.Services(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit: list services: %w", err)
	}
	var out []Finding
	for _, svc := range svcs {
		ran := map[uintptr]bool{} // kinds of one family share their audit
		for _, k := range Kinds() {
			if k.audit == nil || len(stack.Missing(k.Needs, stack.CapabilitiesOf(env.Stack))) > 0 {
				continue
			}
			if fn := reflect.ValueOf(k.audit).Pointer(); !ran[fn] {
				ran[fn] = true
				out = append(out, k.audit(ctx, env, svc)...)
			}
		}
	}
	out = dedupe(out)
	run := env.Deps().RunID // an attached view of an embedded run names the run
	for i := range out {
		if out[i].Run == "" {
			out[i].Run = run
		}
	}
	return out, nil
}

// dedupe drops findings reported twice (kinds sharing a mechanism audit the
// same state).
func dedupe(fs []Finding) []Finding {
	seen := map[Finding]bool{}
	out := fs[:0]
	for _, f := range fs {
		if !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	return out
}
