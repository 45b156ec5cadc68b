package plans

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/drill/plan"
	"github.com/aiuptime/aiuptime/param"
)

// sample is a valid value of a param, written as a plan would.
func sample(p param.Spec) any {
	if p.Default != "" {
		return p.Default
	}
	switch p.Type {
	case param.Duration:
		return "200ms"
	case param.Percent:
		return 10
	case param.Size:
		return "1KiB"
	case param.Rate:
		return "10mbit"
	case param.Enum:
		return p.Enum[0]
	case param.Service:
		return "model-1"
	case param.Int:
		return 3
	case param.Bool:
		return true
	case param.Regexp:
		return "engine"
	}
	return "x"
}

func stepYAML(key, kind string, params map[string]any) string {
	var ps []string
	for k, v := range params {
		val := fmt.Sprint(v)
		if strings.ContainsAny(val, ",: ") {
			val = fmt.Sprintf("%q", val)
		}
		ps = append(ps, k+": "+val)
	}
	sort.Strings(ps)
	target := ""
	if key == "fault" {
		target = ", target: model-0"
	}
	return fmt.Sprintf("name: agree\nsteps:\n  - {name: s, %s: %s%s, params: {%s}}\n", key, kind, target, strings.Join(ps, ", "))
}

// The one registry feeds the schema and validation alike: for every fault
// kind and action, a step with every param set validates in both, a step
// with an unknown param fails in both, and the schema's params are the
// registry's.
func TestSchemaAndValidationAgreeWithTheRegistries(t *testing.T) {
	v := loadValidator(t)
	defs := v.root["$defs"].(map[string]any)
	type kind struct {
		key, name string
		params    []param.Spec
	}
	var kinds []kind
	for _, k := range chaos.Kinds() {
		kinds = append(kinds, kind{"fault", k.Name, k.Params})
	}
	for _, k := range plan.ActionKinds {
		kinds = append(kinds, kind{"action", k.Name, k.Params})
	}
	if len(kinds) < 20 {
		t.Fatalf("only %d kinds registered", len(kinds))
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			def, ok := defs["params."+k.name].(map[string]any)
			if !ok {
				t.Fatalf("schema has no params of %s", k.name)
			}
			props := def["properties"].(map[string]any)
			if len(props) != len(k.params) {
				t.Errorf("schema lists %d params, the registry %d", len(props), len(k.params))
			}
			full := map[string]any{}
			for _, p := range k.params {
				if _, ok := props[p.Name]; !ok {
					t.Errorf("schema lacks param %s", p.Name)
				}
				full[p.Name] = sample(p)
			}
			// Params that name an earlier step (validate's baseline) name
			// steps put before it.
			var earlier []string
			for _, p := range plan.StepRefParams[k.name] {
				full[p] = "earlier " + p
				earlier = append(earlier, "  - {name: earlier "+p+", wait: 1s}\n")
			}
			good := strings.Replace(stepYAML(k.key, k.name, full), "steps:\n", "steps:\n"+strings.Join(earlier, ""), 1)
			if _, err := plan.Parse("agree.yaml", []byte(good)); err != nil {
				t.Errorf("validation refuses\n%s: %v", good, err)
			}
			if errs := v.check(v.root, yamlToAny(t, []byte(good)), "$"); len(errs) > 0 {
				t.Errorf("schema refuses\n%s: %v", good, errs)
			}
			full["no_such_param"] = 1
			bad := strings.Replace(stepYAML(k.key, k.name, full), "steps:\n", "steps:\n"+strings.Join(earlier, ""), 1)
			if _, err := plan.Parse("agree.yaml", []byte(bad)); err == nil {
				t.Errorf("validation accepts an unknown param")
			}
			if errs := v.check(v.root, yamlToAny(t, []byte(bad)), "$"); len(errs) == 0 {
				t.Errorf("schema accepts an unknown param")
			}
		})
	}
}
