package drill

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
)

// Duration is a time.Duration written in plans as a Go duration string
// ("250ms", "1m30s"). Zero means unset.
type Duration time.Duration

// D returns the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats the duration as Go does ("1m30s").
func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalYAML decodes a duration string, reporting the node's position on error.
func (d *Duration) UnmarshalYAML(node ast.Node) error {
	s, ok := scalarString(node)
	if !ok {
		return nodeErr(node, "want a duration such as 500ms or 2s, got %s", nodeKind(node))
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return nodeErr(node, "invalid duration %q: want a number with a unit (ms, s, m, h), e.g. 500ms", s)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration as a string.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// durationPattern is the JSON Schema pattern of a Go duration string.
const durationPattern = `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`

// JSONSchema describes Duration for plans/schema.json.
func (Duration) JSONSchema() map[string]any {
	return map[string]any{"type": "string", "pattern": durationPattern, "examples": []any{"500ms", "2s", "1m30s"}}
}

// Percent is a ratio written in plans as a percentage: 99.9, "99.9%" and
// "1%" are accepted. It holds the fraction 0..1 (99.9 -> 0.999).
type Percent float64

// Fraction returns the ratio 0..1.
func (p Percent) Fraction() float64 { return float64(p) }

// String formats the percentage ("99.9%").
func (p Percent) String() string { return strconv.FormatFloat(float64(p)*100, 'g', -1, 64) + "%" }

// UnmarshalYAML decodes a percentage, reporting the node's position on error.
func (p *Percent) UnmarshalYAML(node ast.Node) error {
	s, ok := scalarString(node)
	if !ok {
		return nodeErr(node, "want a percentage such as 99.5 or \"1%%\", got %s", nodeKind(node))
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "%")), 64)
	if err != nil {
		return nodeErr(node, "invalid percentage %q: want a number from 0 to 100, optionally with %%", s)
	}
	if v < 0 || v > 100 {
		return nodeErr(node, "percentage %v is out of range 0..100", v)
	}
	*p = Percent(v / 100)
	return nil
}

// MarshalYAML writes the percentage as a number (99.9).
func (p Percent) MarshalYAML() (any, error) { return float64(p) * 100, nil }

// MarshalJSON writes the percentage as a number (99.9).
func (p Percent) MarshalJSON() ([]byte, error) { return json.Marshal(float64(p) * 100) }

// JSONSchema describes Percent for plans/schema.json.
func (Percent) JSONSchema() map[string]any {
	return map[string]any{"oneOf": []any{
		map[string]any{"type": "number", "minimum": 0, "maximum": 100},
		map[string]any{"type": "string", "pattern": `^[0-9]+(\.[0-9]+)?%$`},
	}}
}

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
	node = unwrap(node)
	switch n := node.(type) {
	case *ast.StringNode:
		*t = Target{Names: []string{n.Value}}
		return nil
	case *ast.SequenceNode:
		var names []string
		for _, v := range n.Values {
			s, ok := v.(*ast.StringNode)
			if !ok {
				return nodeErr(v, "want a service name, got %s", nodeKind(v))
			}
			names = append(names, s.Value)
		}
		if len(names) == 0 {
			return nodeErr(node, "empty target list")
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
	return nodeErr(node, "want a service name, a list of names or {role: ..., percent: ...}, got %s", nodeKind(node))
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
var AwaitKinds = []KindInfo{
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
	node = unwrap(node)
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
				return nodeErr(node, "await %s takes no argument, got %q", kind, arg)
			}
		}
		return nil
	}
	var m map[string]string
	if err := yaml.NodeToValue(node, &m); err != nil || len(m) != 1 {
		return nodeErr(node, "want an await such as recovered, healthy, \"alert-firing NAME\" or {condition: QUERY}")
	}
	for k, v := range m {
		*a = Await{Kind: k}
		switch k {
		case AwaitAlertFiring, AwaitAlertResolved:
			a.Alert = v
		case AwaitCondition:
			a.Query = v
		default:
			return nodeErr(node, "unknown await kind %q in mapping form (want alert-firing, alert-resolved or condition)", k)
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

func unwrap(node ast.Node) ast.Node {
	for {
		switch n := node.(type) {
		case *ast.TagNode:
			node = n.Value
		case *ast.AnchorNode:
			node = n.Value
		default:
			return node
		}
	}
}

// scalarString returns the text of a scalar node.
func scalarString(node ast.Node) (string, bool) {
	node = unwrap(node)
	switch n := node.(type) {
	case *ast.StringNode:
		return n.Value, true
	case *ast.IntegerNode, *ast.FloatNode:
		return n.GetToken().Value, true
	case *ast.InfinityNode, *ast.NanNode:
		return n.GetToken().Value, true
	}
	return "", false
}

func nodeKind(node ast.Node) string {
	switch unwrap(node).(type) {
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	case *ast.NullNode:
		return "nothing"
	case *ast.BoolNode:
		return "a boolean"
	case *ast.IntegerNode, *ast.FloatNode:
		return "a number"
	}
	return "a " + strings.ToLower(node.Type().String())
}

// nodeErr is an error at node's position; the decoder adds the file and field.
func nodeErr(node ast.Node, format string, args ...any) error {
	e := &PlanError{Msg: fmt.Sprintf(format, args...)}
	if tk := node.GetToken(); tk != nil && tk.Position != nil {
		e.Line, e.Col = tk.Position.Line, tk.Position.Column
	}
	e.node = node
	return e
}
