package main

import (
	"github.com/aiuptime/aiuptime/chaos/faults"
	"github.com/aiuptime/aiuptime/drill"
)

// The chaos registry is the authority on fault kinds: `drill list` shows
// what it implements, and plans are validated against it.
func init() {
	drill.ListFaultKinds = func() []drill.KindInfo {
		var out []drill.KindInfo
		for _, k := range faults.Kinds() {
			ki := drill.KindInfo{Name: k.Name, Doc: k.Description}
			for _, p := range k.Params {
				ki.Params = append(ki.Params, drill.ParamInfo{Name: p.Name, Type: p.Type, Doc: p.Doc, Default: p.Default, Required: p.Required})
			}
			out = append(out, ki)
		}
		return out
	}
}
