package plan

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"

	"github.com/aiuptime/aiuptime/internal/yamldoc"
	"github.com/aiuptime/aiuptime/param"
	"github.com/aiuptime/aiuptime/stack"
)

// Target is what a fault or action hits. In YAML it is a service name
// (model-0), a list of names ([model-0, model-1]), or a share of a role:
// {role: model, count: 1} or {role: model, percent: 50} (neither: every
// service of the role).
//
// Which services of a role a share picks is decided by the run's seed
// (drill run --seed N; without it a seed is chosen and recorded in the
// report): the same seed, step and services pick the same ones, so a drill
// is repeatable, and different seeds spread the harm over the replicas.
type Target struct {
	// Names are the services named explicitly.
	Names []string `yaml:"names,omitempty" json:"names,omitempty"`
	// Role selects services by role (gateway, model, proxy, monitor).
	Role string `yaml:"role,omitempty" json:"role,omitempty"`
	// Percent of the role's services to pick, 1..100: the share rounded
	// down, but at least one (50% of 3 replicas is 1, 67% of 3 is 2, 10% of
	// 3 is 1), so a share never hits more than asked except for that one.
	Percent int `yaml:"percent,omitempty" json:"percent,omitempty"`
	// Count picks exactly this many of the role's services instead of a
	// percentage; more than the stack has is an error.
	Count int `yaml:"count,omitempty" json:"count,omitempty"`
}

// String renders the target for reports: "model-0", "model-0,model-1" or "50% of role model".
func (t Target) String() string {
	if len(t.Names) > 0 {
		return strings.Join(t.Names, ",")
	}
	switch {
	case t.Count > 0:
		return fmt.Sprintf("%d of role %s", t.Count, t.Role)
	case t.Percent > 0 && t.Percent < 100:
		return fmt.Sprintf("%d%% of role %s", t.Percent, t.Role)
	default:
		return "all of role " + t.Role
	}
}

// Of is how many of n services of the role the target picks.
func (t Target) Of(n int) int {
	switch {
	case t.Count > 0:
		return t.Count
	case t.Percent > 0:
		return max(1, n*t.Percent/100)
	}
	return n
}

// Pick resolves the target against the services of a stack: explicit
// names must be services of it; a role's share is chosen by seed and salt
// (the step's name) with rendezvous hashing, so the same seed, step and
// services give the same choice whatever their order, and adding a
// service moves at most the picks that land on it. The names come back in
// the order of svcs.
func (t Target) Pick(svcs []stack.ShapeService, seed uint64, salt string) ([]string, error) {
	names := make([]string, len(svcs))
	for i, s := range svcs {
		names[i] = s.Name
	}
	if len(t.Names) > 0 {
		for _, n := range t.Names {
			if !slices.Contains(names, n) {
				return nil, fmt.Errorf("target %s: no such service (have %s)", n, strings.Join(names, ", "))
			}
		}
		return slices.Clone(t.Names), nil
	}
	var of []string
	for _, s := range svcs {
		if string(s.Role) == t.Role {
			of = append(of, s.Name)
		}
	}
	if len(of) == 0 {
		return nil, fmt.Errorf("target role %s: the stack has no such service (have %s)", t.Role, strings.Join(names, ", "))
	}
	k := t.Of(len(of))
	if k > len(of) {
		return nil, fmt.Errorf("target %s: the stack has only %d (%s)", t, len(of), strings.Join(of, ", "))
	}
	if k == len(of) {
		return of, nil
	}
	rank := make(map[string]uint64, len(of))
	for _, n := range of {
		rank[n] = score(seed, salt, n)
	}
	chosen := slices.Clone(of)
	slices.SortFunc(chosen, func(a, b string) int { return cmp.Or(cmp.Compare(rank[a], rank[b]), cmp.Compare(a, b)) })
	chosen = chosen[:k]
	return slices.DeleteFunc(of, func(n string) bool { return !slices.Contains(chosen, n) }), nil
}

// score is a service's rank for a seed and salt: the first 8 bytes of
// SHA-256 over them, stable across versions and platforms.
func score(seed uint64, salt, name string) uint64 {
	h := sha256.New()
	_ = binary.Write(h, binary.BigEndian, seed)
	h.Write([]byte(salt))
	h.Write([]byte{0})
	h.Write([]byte(name))
	return binary.BigEndian.Uint64(h.Sum(nil))
}

// UnmarshalYAML decodes the three target forms.
func (t *Target) UnmarshalYAML(node ast.Node) error {
	node = yamldoc.Unwrap(node)
	switch n := node.(type) {
	case *ast.StringNode:
		*t = Target{Names: []string{n.Value}}
		return nil
	case *ast.SequenceNode:
		var names []string
		for _, v := range n.Values {
			s, ok := v.(*ast.StringNode)
			if !ok {
				return yamldoc.NodeError(v, "want a service name, got %s", yamldoc.Kind(v))
			}
			names = append(names, s.Value)
		}
		if len(names) == 0 {
			return yamldoc.NodeError(node, "empty target list")
		}
		*t = Target{Names: names}
		return nil
	case *ast.MappingNode, *ast.MappingValueNode:
		type plain Target
		var p plain
		if err := yaml.NodeToValue(node, &p, yaml.DisallowUnknownField()); err != nil {
			return err
		}
		*t = Target(p)
		return explicitZero(node)
	}
	return yamldoc.NodeError(node, "want a service name, a list of names or {role: ..., percent: ...}, got %s", yamldoc.Kind(node))
}

// explicitZero refuses percent: 0 and count: 0 (however written), which
// decode like absent keys (every service of the role) but ask for none.
func explicitZero(node ast.Node) error {
	var set struct {
		Percent *int `yaml:"percent"`
		Count   *int `yaml:"count"`
	}
	if err := yaml.NodeToValue(node, &set); err != nil {
		return err
	}
	for _, f := range []struct {
		key string
		v   *int
	}{{"percent", set.Percent}, {"count", set.Count}} {
		if f.v != nil && *f.v == 0 {
			return yamldoc.NodeError(valueOf(node, f.key), "%s: 0 picks no service: give at least 1, or leave it out for every service of the role", f.key)
		}
	}
	return nil
}

// valueOf is the value node of key in a mapping (the mapping when absent).
func valueOf(node ast.Node, key string) ast.Node {
	var pairs []*ast.MappingValueNode
	switch m := node.(type) {
	case *ast.MappingNode:
		pairs = m.Values
	case *ast.MappingValueNode:
		pairs = []*ast.MappingValueNode{m}
	}
	for _, mv := range pairs {
		if k, _ := yamldoc.Scalar(mv.Key); k == key {
			return mv.Value
		}
	}
	return node
}

// JSONSchema describes Target for plans/schema.json.
func (Target) JSONSchema() map[string]any {
	name := map[string]any{"type": "string", "pattern": serviceNamePattern}
	return map[string]any{"oneOf": []any{
		name,
		map[string]any{"type": "array", "items": name, "minItems": 1},
		map[string]any{"type": "object", "additionalProperties": false, "properties": map[string]any{
			"names": map[string]any{"type": "array", "items": name},
			"role":  map[string]any{"type": "string", "enum": []any{"gateway", "model", "proxy", "monitor"}},
			"percent": map[string]any{"type": "integer", "minimum": 1, "maximum": 100,
				"description": "share of the role's services to hit: rounded down, but at least one (50% of 3 is 1); which ones is decided by the run's seed (drill run --seed N)"},
			"count": map[string]any{"type": "integer", "minimum": 1,
				"description": "exactly this many of the role's services (more than the stack has is an error); which ones is decided by the run's seed (drill run --seed N)"},
		}},
	}}
}

// Await kinds.
const (
	AwaitRecovered     = "recovered"      // the probe sees success again (recovery threshold met)
	AwaitHealthy       = "healthy"        // every target service (default all) answers its health check
	AwaitAlertFiring   = "alert-firing"   // the named alert fires in Prometheus
	AwaitAlertResolved = "alert-resolved" // the named alert resolved
	AwaitCondition     = "condition"      // a PromQL expression returns a non-empty result
)

// AwaitKinds lists the await kinds with what they wait for.
var AwaitKinds = []AwaitKind{
	{Name: AwaitRecovered, Doc: "the probe sees the service recovered (consecutive successes after the last failure)"},
	{Name: AwaitHealthy, Doc: "the target services (default: all) pass their health checks"},
	{Name: AwaitAlertFiring, Doc: "alert NAME is firing in Prometheus (\"alert-firing NAME\")"},
	{Name: AwaitAlertResolved, Doc: "alert NAME has resolved (\"alert-resolved NAME\")"},
	{Name: AwaitCondition, Doc: "a PromQL query returns a non-empty result ({condition: QUERY})"},
}

// Await is what an await step waits for. In YAML it is a string
// ("recovered", "healthy", "alert-firing AiuptimeEngineDown") or a mapping
// ({alert-firing: NAME}, {condition: "up == 1"}).
type Await struct {
	// Kind is recovered, healthy, alert-firing, alert-resolved or condition.
	Kind string
	// Alert is the alert name of alert-firing and alert-resolved.
	Alert string
	// Query is the PromQL expression of condition.
	Query string
}

// String renders the await as written in plans.
func (a Await) String() string {
	switch a.Kind {
	case AwaitAlertFiring, AwaitAlertResolved:
		return a.Kind + " " + a.Alert
	case AwaitCondition:
		return a.Kind + " " + a.Query
	}
	return a.Kind
}

// UnmarshalYAML decodes the string and mapping forms.
func (a *Await) UnmarshalYAML(node ast.Node) error {
	node = yamldoc.Unwrap(node)
	if s, ok := node.(*ast.StringNode); ok {
		kind, arg, _ := strings.Cut(strings.TrimSpace(s.Value), " ")
		*a = Await{Kind: kind}
		arg = strings.TrimSpace(arg)
		switch kind {
		case AwaitAlertFiring, AwaitAlertResolved:
			a.Alert = arg
		case AwaitCondition:
			a.Query = arg
		default:
			if arg != "" {
				return yamldoc.NodeError(node, "await %s takes no argument, got %q", kind, arg)
			}
		}
		return nil
	}
	var m map[string]string
	if err := yaml.NodeToValue(node, &m); err != nil || len(m) != 1 {
		return yamldoc.NodeError(node, "want an await such as recovered, healthy, \"alert-firing NAME\" or {condition: QUERY}")
	}
	for k, v := range m {
		*a = Await{Kind: k}
		switch k {
		case AwaitAlertFiring, AwaitAlertResolved:
			a.Alert = v
		case AwaitCondition:
			a.Query = v
		default:
			return yamldoc.NodeError(node, "unknown await kind %q in mapping form (want alert-firing, alert-resolved or condition)", k)
		}
	}
	return nil
}

// MarshalYAML writes the string form.
func (a Await) MarshalYAML() (any, error) { return a.String(), nil }

// MarshalJSON writes the string form.
func (a Await) MarshalJSON() ([]byte, error) { return json.Marshal(a.String()) }

// JSONSchema describes Await for plans/schema.json.
func (Await) JSONSchema() map[string]any {
	str := map[string]any{"type": "string"}
	return map[string]any{"oneOf": []any{
		map[string]any{"type": "string", "pattern": `^(recovered|healthy|(alert-firing|alert-resolved) \S+|condition .+)$`},
		map[string]any{"type": "object", "minProperties": 1, "maxProperties": 1, "additionalProperties": false,
			"properties": map[string]any{"alert-firing": str, "alert-resolved": str, "condition": str}},
	}}
}

// serviceNamePattern is what service names look like (Docker/DNS friendly).
const serviceNamePattern = param.ServiceNamePattern
