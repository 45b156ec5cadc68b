package plan

import (
	"embed"
	"encoding/json"
	"reflect"
	"sort"
	"strings"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/internal/typedocs"
	"github.com/aiuptime/aiuptime/param"
	"github.com/aiuptime/aiuptime/slo"
)

// The plan's Go types are the source of truth for plans/schema.json: the
// generator walks them by reflection (yaml tags give names and which keys
// are required) and reads their doc comments from the embedded sources.
//
//go:embed plan.go target.go
var typeSources embed.FS

// SchemaID is the $id of the plan schema.
const SchemaID = "https://github.com/aiuptime/aiuptime/plans/schema.json"

// schemaProvider is implemented by types with their own YAML forms.
type schemaProvider interface{ JSONSchema() map[string]any }

// scalarForm is implemented by struct types that may also be written as a
// scalar (window: any): their schema is one of the scalar and the mapping.
type scalarForm interface{ JSONSchemaScalar() map[string]any }

// Schema returns the JSON Schema (draft 2020-12) of plan files, indented,
// with a trailing newline: what plans/schema.json holds.
func Schema() ([]byte, error) {
	g := &schemaGen{defs: map[string]any{}, docs: typedocs.Parse(typeSources)}
	for k, v := range slo.SpecDocs() {
		g.docs[k] = v
	}
	root := g.object(reflect.TypeOf(Plan{}))
	g.stepParams()
	root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	root["$id"] = SchemaID
	root["title"] = "aiuptime drill plan"
	root["$defs"] = g.defs
	b, err := json.MarshalIndent(root, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

type schemaGen struct {
	defs map[string]any
	docs map[string]string
}

var providerType = reflect.TypeOf((*schemaProvider)(nil)).Elem()

func (g *schemaGen) of(t reflect.Type) map[string]any {
	if t.Kind() != reflect.Pointer && t.Implements(providerType) {
		return reflect.Zero(t).Interface().(schemaProvider).JSONSchema()
	}
	switch t.Kind() {
	case reflect.Pointer:
		return g.of(t.Elem())
	case reflect.Struct:
		name := t.Name()
		if _, ok := g.defs[name]; !ok {
			g.defs[name] = map[string]any{} // break cycles
			g.defs[name] = g.object(t)
			if sf, ok := reflect.Zero(t).Interface().(scalarForm); ok {
				g.defs[name] = map[string]any{"oneOf": []any{sf.JSONSchemaScalar(), g.defs[name]}}
			}
		}
		return map[string]any{"$ref": "#/$defs/" + name}
	case reflect.Slice, reflect.Array:
		return map[string]any{"type": "array", "items": g.of(t.Elem())}
	case reflect.Map:
		if t.Elem().Kind() == reflect.Interface {
			return map[string]any{"type": "object"}
		}
		return map[string]any{"type": "object", "additionalProperties": g.of(t.Elem())}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	}
	return map[string]any{}
}

// object builds the schema of a struct type from its yaml tags and docs.
func (g *schemaGen) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []any
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		s := copyMap(g.of(f.Type))
		if d := g.docs[t.Name()+"."+f.Name]; d != "" {
			s["description"] = d // beside $ref too: allowed in 2020-12
		}
		if e := f.Tag.Get("enum"); e != "" {
			var vals []any
			for _, v := range strings.Split(e, ",") {
				vals = append(vals, v)
			}
			s["enum"] = vals
		}
		if x, ok := fieldExtras[t.Name()+"."+f.Name]; ok {
			for k, v := range x() {
				s[k] = v
			}
		}
		props[name] = s
		if !strings.Contains(opts, "omitempty") {
			required = append(required, name)
		}
	}
	o := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		o["required"] = required
	}
	if d := g.docs[t.Name()]; d != "" {
		o["description"] = d
	}
	if t == reflect.TypeOf(Step{}) {
		var one []any
		for _, k := range []string{"wait", "fault", "action", "await", "revert"} {
			one = append(one, map[string]any{"required": []any{k}})
		}
		o["oneOf"] = one
	}
	return o
}

// fieldExtras adds schema keywords that come from the registries, not types.
var fieldExtras = map[string]func() map[string]any{
	"Step.Fault": func() map[string]any {
		return map[string]any{"enum": stringsToAny(chaos.KindNames())}
	},
	"Step.Action": func() map[string]any {
		names := make([]string, len(ActionKinds))
		for i, k := range ActionKinds {
			names[i] = k.Name
		}
		return map[string]any{"enum": stringsToAny(names)}
	},
}

// stepParams makes a step's params follow its fault's or action's table:
// one if/then per kind, so an editor completes and checks them.
func (g *schemaGen) stepParams() {
	step := g.defs["Step"].(map[string]any)
	var all []any
	add := func(key, name string, specs []param.Spec) {
		def := "params." + name
		g.defs[def] = param.Schema(specs)
		then := map[string]any{"properties": map[string]any{"params": map[string]any{"$ref": "#/$defs/" + def}}}
		for _, p := range specs {
			if p.Required {
				then["required"] = []any{"params"}
			}
		}
		all = append(all, map[string]any{
			"if":   map[string]any{"required": []any{key}, "properties": map[string]any{key: map[string]any{"const": name}}},
			"then": then,
		})
	}
	for _, k := range chaos.Kinds() {
		add("fault", k.Name, k.Params)
	}
	for _, k := range ActionKinds {
		add("action", k.Name, k.Params)
	}
	step["allOf"] = all
}

// stringsToAny converts names for an enum, sorted so that the schema does
// not depend on a registry's order.
func stringsToAny(ss []string) []any {
	ss = append([]string(nil), ss...)
	sort.Strings(ss)
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func copyMap(m map[string]any) map[string]any {
	c := make(map[string]any, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}
