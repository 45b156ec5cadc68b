package plan

import "github.com/aiuptime/aiuptime/internal/yamldoc"

// StepRefParams are the params of action kinds that name an earlier step
// of the same plan (validate compares the probe's traffic of a baseline
// step with that of an after step).
var StepRefParams = map[string][]string{"validate": {"baseline", "after"}}

// stepRefs checks that the step's step-naming params name earlier steps,
// and different ones.
func (c *checker) stepRefs(s Step, i int, sp func(...any) yamldoc.Path, seen map[string]int) {
	named := map[string]string{}
	for _, p := range StepRefParams[s.Action] {
		v, ok := s.Params[p].(string)
		if !ok || v == "" {
			continue
		}
		if prev, ok := seen[v]; !ok || prev-1 >= i {
			c.bad(sp("params", p), "%q is not an earlier step", v)
			continue
		}
		if other, dup := named[v]; dup {
			c.bad(sp("params", p), "%q is also params.%s: name two different steps", v, other)
		}
		named[v] = p
	}
}
