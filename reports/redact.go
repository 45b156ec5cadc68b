package reports

import (
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/aiuptime/aiuptime/redact"
)

// redactedCopy deep-copies r (through JSON) and masks every string it
// holds, map keys included, with red.
func redactedCopy(r *Report, red *redact.Redactor) (*Report, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	var c Report
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, err
	}
	redactValue(reflect.ValueOf(&c).Elem(), red)
	return &c, nil
}

func redactValue(v reflect.Value, red *redact.Redactor) {
	switch v.Kind() {
	case reflect.String:
		if v.CanSet() {
			v.SetString(red.String(v.String()))
		}
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			redactValue(v.Elem(), red)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				redactValue(v.Field(i), red)
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			redactValue(v.Index(i), red)
		}
	case reflect.Map:
		if v.IsNil() {
			return
		}
		m := reflect.MakeMapWithSize(v.Type(), v.Len())
		it := v.MapRange()
		for it.Next() {
			k := reflect.New(v.Type().Key()).Elem()
			k.Set(it.Key())
			redactValue(k, red)
			for n := 2; k.Kind() == reflect.String && m.MapIndex(k).IsValid(); n++ {
				// Two keys masked alike: keep both entries.
				k.SetString(fmt.Sprintf("%s #%d", red.String(it.Key().String()), n))
			}
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(it.Value())
			redactValue(e, red)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	}
}
