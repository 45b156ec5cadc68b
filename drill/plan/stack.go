package plan

import (
	"strings"

	"github.com/goccy/go-yaml/ast"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/internal/yamldoc"
	"github.com/aiuptime/aiuptime/param"
	"github.com/aiuptime/aiuptime/stack"
)

// This file checks a plan against the stack it runs on (CheckStack): what
// the stack file says before anything starts, and the live services of an
// attached stack once it is opened.

// checkStack refuses what the stack cannot do: a fault or action whose
// capabilities its provider lacks, and names that are not its services.
func (p *Plan) checkStack(sh stack.Shape) Errors {
	c := &checker{p: p}
	known := func(at yamldoc.Path, name string) {
		if len(sh.Services) > 0 {
			if _, ok := sh.Service(name); !ok {
				c.bad(at, "%q is not a service of the %s stack (it has %s)", name, sh.Kind, strings.Join(sh.Names(), ", "))
			}
		}
	}
	if t := p.Probe.Target; t != "" && t != DefaultProbeTarget {
		known(path("probe", "target"), t)
	}
	for i, s := range p.Steps {
		sp := func(k ...any) yamldoc.Path { return path("steps", i).Add(k...) }
		var needs []stack.Capability
		var needOps []stack.Op
		var what string
		var specs []param.Spec
		switch s.Kind() {
		case StepFault:
			k, err := chaos.LookupKind(s.Fault)
			if err != nil {
				continue
			}
			needs, needOps, what, specs = k.Needs, k.NeedsOps, "fault", k.Params
		case StepAction:
			k, err := LookupAction(s.Action)
			if err != nil {
				continue
			}
			needs, what, specs = k.Needs, "action", k.Params
		}
		if msg := sh.MissingText(s.Fault+s.Action, needs); msg != "" {
			c.bad(sp(what), "%s", msg)
		} else if msg := sh.MissingOps(s.Fault, needOps); msg != "" {
			c.bad(sp(what), "%s", msg)
		}
		if s.Target != nil {
			for j, n := range s.Target.Names {
				known(p.nameAt(sp("target"), j), n)
			}
			c.share(sh, s, sp)
		}
		for _, ps := range specs {
			if v, ok := s.Params[ps.Name].(string); ok && ps.Type == param.Service {
				known(sp("params", ps.Name), v)
			}
		}
	}
	return c.errs
}

// share checks a role target against the services the stack will have:
// the role must have some, and a count no more than it has.
func (c *checker) share(sh stack.Shape, s Step, sp func(...any) yamldoc.Path) {
	t := s.Target
	if len(sh.Services) == 0 || len(t.Names) > 0 || t.Role == "" {
		return
	}
	if _, err := t.Pick(sh.Services, 0, s.Name); err != nil {
		at := sp("target", "role")
		if t.Count > 0 {
			at = sp("target", "count")
		}
		c.bad(at, "%v", err)
	}
}

// nameAt is the path of the i-th name of the target at `at` as the plan
// writes it: the target itself (target: model-0), its i-th entry
// (target: [model-0, model-1]) or names[i] ({names: [...]}).
func (p *Plan) nameAt(at yamldoc.Path, i int) yamldoc.Path {
	if p.doc == nil {
		return at.Add("names", i)
	}
	switch n, _ := p.doc.At(at); n.(type) {
	case *ast.StringNode:
		return at
	case *ast.SequenceNode:
		return at.Add(i)
	}
	return at.Add("names", i)
}
