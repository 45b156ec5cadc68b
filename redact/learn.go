package redact

import (
	"reflect"
	"strings"
)

// maxLearnDepth bounds how deep LearnValue follows nested values.
const maxLearnDepth = 32

// LearnValue adds the secrets a decoded plan, stack file or parameter map
// holds: every string is learned (Learn: URL passwords, ?key= values,
// Bearer tokens, sk- keys), and a string under a secret-looking name (a
// map key, a struct field's yaml or json name or Go name: api_key,
// password, X-Api-Key) is added whole, unless the field is tagged
// `redact:"ref"` (it says where a secret is kept, as api_key_secret's
// Secret name and key do). In a list of strings, the item
// after a secret-looking flag (--api-key KEY) is added too.
func (r *Redactor) LearnValue(v any) {
	var l learner
	l.value(reflect.ValueOf(v), false, 0)
	r.add(l.found, true) // once: a plan may hold many
}

// learner collects the secrets of a value.
type learner struct{ found []string }

func (l *learner) value(v reflect.Value, secret bool, depth int) {
	if !v.IsValid() || depth > maxLearnDepth {
		return
	}
	switch v.Kind() {
	case reflect.String:
		if secret {
			l.found = append(l.found, v.String())
		}
		l.found = found(v.String(), l.found)
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			l.value(v.Elem(), secret, depth+1)
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			switch {
			case !f.IsExported():
			case f.Tag.Get("redact") == "ref":
				// It names where a secret is (a Kubernetes Secret's name
				// and key), which is no secret itself.
				l.value(v.Field(i), false, depth+1)
			default:
				l.value(v.Field(i), secret || IsSecretName(fieldName(f)), depth+1)
			}
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			k := it.Key()
			named := k.Kind() == reflect.String && IsSecretName(k.String())
			l.value(k, false, depth+1)
			l.value(it.Value(), secret || named, depth+1)
		}
	case reflect.Slice, reflect.Array:
		l.list(v, secret, depth)
	}
}

// list learns every item, and the item after a secret-looking flag.
func (l *learner) list(v reflect.Value, secret bool, depth int) {
	if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8 {
		return // bytes: not text a plan holds
	}
	flag := false
	for i := range v.Len() {
		e := v.Index(i)
		for e.Kind() == reflect.Interface && !e.IsNil() {
			e = e.Elem()
		}
		l.value(e, secret || flag, depth+1)
		flag = false
		if e.Kind() == reflect.String {
			s := e.String()
			if name, ok := strings.CutPrefix(s, "-"); ok && !strings.Contains(s, "=") {
				flag = IsSecretName(strings.TrimLeft(name, "-"))
			}
		}
	}
}

// fieldName is a struct field's yaml or json name, else its Go name.
func fieldName(f reflect.StructField) string {
	for _, tag := range []string{"yaml", "json"} {
		if n, _, _ := strings.Cut(f.Tag.Get(tag), ","); n != "" && n != "-" {
			return n
		}
	}
	return f.Name
}
