package plan

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"

	"github.com/aiuptime/aiuptime/internal/yamldoc"
)

// Target is what a fault or action hits. In YAML it is a service name
// (model-0), a list of names ([model-0, model-1]), or a share of a role
// ({role: model, percent: 50}; percent defaults to 100).
type Target struct {
	// Names are the services named explicitly.
	Names []string `yaml:"names,omitempty" json:"names,omitempty"`
	// Role selects services by role (gateway, model, proxy, monitor).
	Role string `yaml:"role,omitempty" json:"role,omitempty"`
	// Percent of the role's services to pick (1..100), rounded up to at least one.
	Percent int `yaml:"percent,omitempty" json:"percent,omitempty"`
	// Count picks this many of the role's services instead of a percentage.
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

// Pick resolves the target against the services of a stack, given as
// name -> role in a stable order (names). The first services of the role
// are picked, so a drill is repeatable.
func (t Target) Pick(names []string, roles map[string]string) ([]string, error) {
	if len(t.Names) > 0 {
		for _, n := range t.Names {
			if _, ok := roles[n]; !ok {
				return nil, fmt.Errorf("target %s: no such service (have %s)", n, strings.Join(names, ", "))
			}
		}
		return append([]string(nil), t.Names...), nil
	}
	var of []string
	for _, n := range names {
		if roles[n] == t.Role {
			of = append(of, n)
		}
	}
	if len(of) == 0 {
		return nil, fmt.Errorf("target role %s: no such services", t.Role)
	}
	k := len(of)
	switch {
	case t.Count > 0:
		k = min(t.Count, len(of))
	case t.Percent > 0:
		k = max(1, (len(of)*t.Percent+99)/100)
	}
	return of[:k], nil
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
		return nil
	}
	return yamldoc.NodeError(node, "want a service name, a list of names or {role: ..., percent: ...}, got %s", yamldoc.Kind(node))
}

// JSONSchema describes Target for plans/schema.json.
func (Target) JSONSchema() map[string]any {
	name := map[string]any{"type": "string", "pattern": serviceNamePattern}
	return map[string]any{"oneOf": []any{
		name,
		map[string]any{"type": "array", "items": name, "minItems": 1},
		map[string]any{"type": "object", "additionalProperties": false, "properties": map[string]any{
			"names":   map[string]any{"type": "array", "items": name},
			"role":    map[string]any{"type": "string", "enum": []any{"gateway", "model", "proxy", "monitor"}},
			"percent": map[string]any{"type": "integer", "minimum": 1, "maximum": 100},
			"count":   map[string]any{"type": "integer", "minimum": 1},
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
const serviceNamePattern = `^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`

var serviceNameRE = regexp.MustCompile(serviceNamePattern)
