package plans

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
)

// A small JSON Schema (2020-12 subset) validator: enough for the keywords
// drill's generator emits, so the shipped schema can be checked against the
// shipped plans without a new module.
type validator struct{ root map[string]any }

func (v *validator) check(s map[string]any, x any, at string) []string {
	var errs []string
	fail := func(format string, args ...any) { errs = append(errs, at+": "+fmt.Sprintf(format, args...)) }
	if ref, ok := s["$ref"].(string); ok {
		name := strings.TrimPrefix(ref, "#/$defs/")
		def, ok := v.root["$defs"].(map[string]any)[name].(map[string]any)
		if !ok {
			fail("unresolved $ref %s", ref)
			return errs
		}
		errs = append(errs, v.check(def, x, at)...)
	}
	if t, ok := s["type"].(string); ok {
		okType := false
		switch t {
		case "string":
			_, okType = x.(string)
		case "number":
			_, okType = x.(float64)
		case "integer":
			f, isNum := x.(float64)
			okType = isNum && f == math.Trunc(f)
		case "boolean":
			_, okType = x.(bool)
		case "object":
			_, okType = x.(map[string]any)
		case "array":
			_, okType = x.([]any)
		}
		if !okType {
			fail("want %s, got %T", t, x)
			return errs
		}
	}
	if e, ok := s["enum"].([]any); ok {
		found := false
		for _, v := range e {
			found = found || v == x
		}
		if !found {
			fail("%v not in enum", x)
		}
	}
	if p, ok := s["pattern"].(string); ok {
		if str, isStr := x.(string); isStr && !regexp.MustCompile(p).MatchString(str) {
			fail("%q does not match %s", str, p)
		}
	}
	if f, ok := x.(float64); ok {
		if m, ok := s["minimum"].(float64); ok && f < m {
			fail("%v < minimum %v", f, m)
		}
		if m, ok := s["maximum"].(float64); ok && f > m {
			fail("%v > maximum %v", f, m)
		}
	}
	if obj, ok := x.(map[string]any); ok {
		props, _ := s["properties"].(map[string]any)
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if ps, ok := props[k].(map[string]any); ok {
				errs = append(errs, v.check(ps, obj[k], at+"."+k)...)
			} else if ap, ok := s["additionalProperties"].(bool); ok && !ap {
				fail("unknown property %q", k)
			} else if aps, ok := s["additionalProperties"].(map[string]any); ok {
				errs = append(errs, v.check(aps, obj[k], at+"."+k)...)
			}
		}
		for _, r := range asList(s["required"]) {
			if _, ok := obj[r.(string)]; !ok {
				fail("missing required %q", r)
			}
		}
		if n, ok := s["minProperties"].(float64); ok && float64(len(obj)) < n {
			fail("fewer than %v properties", n)
		}
		if n, ok := s["maxProperties"].(float64); ok && float64(len(obj)) > n {
			fail("more than %v properties", n)
		}
	}
	if arr, ok := x.([]any); ok {
		if is, ok := s["items"].(map[string]any); ok {
			for i, e := range arr {
				errs = append(errs, v.check(is, e, fmt.Sprintf("%s[%d]", at, i))...)
			}
		}
		if n, ok := s["minItems"].(float64); ok && float64(len(arr)) < n {
			fail("fewer than %v items", n)
		}
	}
	if c, ok := s["const"]; ok && c != x {
		fail("%v is not %v", x, c)
	}
	for _, sub := range asList(s["allOf"]) {
		sm := sub.(map[string]any)
		if cond, ok := sm["if"].(map[string]any); ok {
			if len(v.check(cond, x, at)) == 0 {
				if then, ok := sm["then"].(map[string]any); ok {
					errs = append(errs, v.check(then, x, at)...)
				}
			}
			continue
		}
		errs = append(errs, v.check(sm, x, at)...)
	}
	if one := asList(s["oneOf"]); len(one) > 0 {
		matched := 0
		for _, o := range one {
			if len(v.check(o.(map[string]any), x, at)) == 0 {
				matched++
			}
		}
		if matched != 1 {
			fail("matches %d of oneOf, want exactly 1", matched)
		}
	}
	return errs
}

func asList(x any) []any { l, _ := x.([]any); return l }

func loadValidator(t *testing.T) *validator {
	t.Helper()
	b, err := files.ReadFile("schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var root map[string]any
	if err := json.Unmarshal(b, &root); err != nil {
		t.Fatalf("schema.json: %v", err)
	}
	return &validator{root: root}
}

func yamlToAny(t *testing.T, src []byte) any {
	t.Helper()
	j, err := yaml.YAMLToJSON(src)
	if err != nil {
		t.Fatal(err)
	}
	var x any
	if err := json.Unmarshal(j, &x); err != nil {
		t.Fatal(err)
	}
	return x
}

func TestSchemaAcceptsShippedPlans(t *testing.T) {
	v := loadValidator(t)
	for _, n := range Names() {
		b, _ := Read(n)
		if errs := v.check(v.root, yamlToAny(t, b), "$"); len(errs) > 0 {
			t.Errorf("%s does not match schema.json:\n%s", n, strings.Join(errs, "\n"))
		}
	}
}

func TestSchemaRejectsBadPlans(t *testing.T) {
	v := loadValidator(t)
	for name, src := range map[string]string{
		"unknown key":    "name: x\nstpes: []\n",
		"missing name":   "steps: [{name: a, wait: 1s}]\n",
		"two kinds":      "name: x\nsteps: [{name: a, wait: 1s, fault: gpu-kill, target: m}]\n",
		"no kind":        "name: x\nsteps: [{name: a}]\n",
		"unknown fault":  "name: x\nsteps: [{name: a, fault: gpu-kil, target: m}]\n",
		"bad duration":   "name: x\nsteps: [{name: a, wait: soon}]\n",
		"percent > 100":  "name: x\nslo: {availability: 101}\nsteps: [{name: a, wait: 1s}]\n",
		"target percent": "name: x\nsteps: [{name: a, fault: gpu-kill, target: {role: model, percent: 0}}]\n",
		"bad probe mode": "name: x\nprobe: {mode: ping}\nsteps: [{name: a, wait: 1s}]\n",
		"bad await":      "name: x\nsteps: [{name: a, await: sunrise, timeout: 1s}]\n",
		"step key typo":  "name: x\nsteps: [{name: a, wait: 1s, timout: 1s}]\n",
		"unknown param":  "name: x\nsteps: [{name: a, fault: network-delay, target: m, params: {delay: 1s, jiter: 1ms}}]\n",
		"missing param":  "name: x\nsteps: [{name: a, fault: network-loss, target: m}]\n",
		"bad enum param": "name: x\nsteps: [{name: a, fault: disk-wipe, target: m, params: {volume: tmp}}]\n",
	} {
		if errs := v.check(v.root, yamlToAny(t, []byte(src)), "$"); len(errs) == 0 {
			t.Errorf("%s: schema accepts\n%s", name, src)
		}
	}
}
