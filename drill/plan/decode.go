package drill

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// exitUsage is the CLI's exit code for an invalid plan.
const exitUsage = 2

// PlanError is one problem in a plan, at a position in its file.
// Error renders it as "file:line:col: field: message".
type PlanError struct {
	File string
	// Line and Col are 1-based; 0 when the problem has no single place.
	Line, Col int
	// Field is the path of the offending field, e.g. steps[2].target.percent.
	Field string
	Msg   string

	node ast.Node // set by nodeErr, for the field path
}

// Error formats the problem as file:line:col: field: message.
func (e *PlanError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if b.Len() == 0 {
		b.WriteString("plan")
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", e.Line, e.Col)
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ExitCode makes an invalid plan exit 2 (bad usage or invalid plan).
func (e *PlanError) ExitCode() int { return exitUsage }

// PlanErrors is every problem found in a plan, in file order.
type PlanErrors []*PlanError

// Error lists the problems, one a line.
func (es PlanErrors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// ExitCode makes an invalid plan exit 2.
func (es PlanErrors) ExitCode() int { return exitUsage }

// Unwrap exposes the single problems to errors.As and errors.Is.
func (es PlanErrors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// Validator checks a fault's or action's kind and params; it returns an
// error for an unknown kind or bad params. A *ParamError names the param.
type Validator func(kind string, params map[string]any) error

// ParamError is a Validator's complaint about one param.
type ParamError struct {
	Param string
	Msg   string
}

// Error renders the complaint.
func (e *ParamError) Error() string { return e.Param + ": " + e.Msg }

// PlanOption configures plan decoding and validation.
type PlanOption func(*planOptions)

type planOptions struct {
	fault  Validator
	action Validator
}

// WithFaultValidator replaces the built-in check of fault kinds and params
// (the table in FaultKinds) with v, e.g. the chaos registry's.
func WithFaultValidator(v Validator) PlanOption { return func(o *planOptions) { o.fault = v } }

// WithActionValidator replaces the built-in check of action kinds (the
// table in ActionKinds) with v, e.g. the rollout and backup registries'.
func WithActionValidator(v Validator) PlanOption { return func(o *planOptions) { o.action = v } }

// LoadPlan reads, decodes and validates the plan file at path.
func LoadPlan(path string, opts ...PlanOption) (*Plan, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, &PlanError{File: path, Msg: fmt.Sprintf("read plan: %v", errors.Unwrap(err))}
	}
	return ParsePlan(path, b, opts...)
}

// ParsePlan decodes data strictly (unknown keys are errors) and validates
// it. file names the source in errors. Every error is a *PlanError or
// PlanErrors carrying file:line:col and the field.
func ParsePlan(file string, data []byte, opts ...PlanOption) (p *Plan, err error) {
	defer func() {
		// The YAML library is third-party code fed with user input: a panic
		// in it is an invalid plan, not a crash.
		if r := recover(); r != nil {
			p, err = nil, &PlanError{File: file, Msg: fmt.Sprintf("cannot decode plan: %v", r)}
		}
	}()
	return parsePlan(file, data, opts...)
}

func parsePlan(file string, data []byte, opts ...PlanOption) (*Plan, error) {
	o := planOptions{fault: builtinFaultValidator, action: builtinActionValidator}
	for _, opt := range opts {
		opt(&o)
	}
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, fromYAMLError(file, nil, err)
	}
	var docs []*ast.DocumentNode
	for _, d := range f.Docs {
		if d != nil && d.Body != nil {
			docs = append(docs, d)
		}
	}
	if len(docs) == 0 {
		return nil, &PlanError{File: file, Msg: "empty plan"}
	}
	if len(docs) > 1 {
		tk := docs[1].Body.GetToken()
		return nil, &PlanError{File: file, Line: tk.Position.Line, Col: tk.Position.Column, Msg: "a plan file holds one YAML document"}
	}
	body := docs[0].Body
	if _, ok := unwrap(body).(*ast.MappingNode); !ok {
		if _, ok := unwrap(body).(*ast.MappingValueNode); !ok {
			return nil, nodePlanError(file, body, "", "a plan is a mapping (name:, steps:, ...), got "+nodeKind(body))
		}
	}
	var p Plan
	if err := yaml.NodeToValue(body, &p, yaml.DisallowUnknownField()); err != nil {
		return nil, fromYAMLError(file, body, err)
	}
	p.File = file
	if errs := validate(&p, &o); len(errs) > 0 {
		for _, e := range errs {
			e.File = file
			if n := lookup(body, e.path, e.atKey); n != nil {
				if tk := n.GetToken(); tk != nil && tk.Position != nil {
					e.Line, e.Col = tk.Position.Line, tk.Position.Column
				}
			}
		}
		out := make(PlanErrors, len(errs))
		for i, e := range errs {
			out[i] = &e.PlanError
		}
		sort.SliceStable(out, func(i, j int) bool {
			if out[i].Line != out[j].Line {
				return out[i].Line < out[j].Line
			}
			return out[i].Col < out[j].Col
		})
		return &p, out
	}
	return &p, nil
}

func nodePlanError(file string, n ast.Node, field, msg string) *PlanError {
	e := &PlanError{File: file, Field: field, Msg: msg}
	if tk := n.GetToken(); tk != nil && tk.Position != nil {
		e.Line, e.Col = tk.Position.Line, tk.Position.Column
	}
	return e
}

// fromYAMLError turns a go-yaml error into a *PlanError with the field path.
func fromYAMLError(file string, root ast.Node, err error) *PlanError {
	var pe *PlanError
	if errors.As(err, &pe) {
		e := *pe
		e.File = file
		if e.node != nil && e.Field == "" {
			e.Field = fieldPath(e.node.GetPath())
		}
		e.node = nil
		return &e
	}
	e := &PlanError{File: file, Msg: err.Error()}
	var ye yaml.Error
	if errors.As(err, &ye) {
		e.Msg = ye.GetMessage()
		if tk := ye.GetToken(); tk != nil && tk.Position != nil {
			e.Line, e.Col = tk.Position.Line, tk.Position.Column
			if root != nil {
				e.Field = fieldOfToken(root, tk)
			}
		}
		var uf *yaml.UnknownFieldError
		if errors.As(err, &uf) {
			e.Msg = strings.Replace(e.Msg, "unknown field", "unknown key", 1)
		}
		var te *yaml.TypeError
		if errors.As(err, &te) {
			e.Msg = fmt.Sprintf("want %s, got %s", typeWord(te.DstType.String()), typeWord(te.SrcType.String()))
		}
	}
	return e
}

func typeWord(t string) string {
	switch {
	case strings.HasPrefix(t, "[]"):
		return "a list"
	case strings.HasPrefix(t, "map["), strings.HasPrefix(t, "drill."):
		return "a mapping"
	case strings.Contains(t, "int"):
		return "an integer"
	case strings.Contains(t, "float"):
		return "a number"
	case t == "bool":
		return "a boolean"
	case t == "string":
		return "a string"
	}
	return t
}

// fieldOfToken finds the path of the node whose token (or key token) is tk.
func fieldOfToken(root ast.Node, tk *token.Token) string {
	var found string
	ast.Walk(visitor(func(n ast.Node) bool {
		if found != "" {
			return false
		}
		if mv, ok := n.(*ast.MappingValueNode); ok && mv.Key != nil && mv.Key.GetToken() == tk {
			found = fieldPath(mv.Value.GetPath())
			return false
		}
		if n.GetToken() == tk {
			found = fieldPath(n.GetPath())
			return false
		}
		return true
	}), root)
	return found
}

type visitor func(ast.Node) bool

func (v visitor) Visit(n ast.Node) ast.Visitor {
	if v(n) {
		return v
	}
	return nil
}

// fieldPath turns go-yaml's "$.steps[2].target" into "steps[2].target".
func fieldPath(p string) string {
	p = strings.TrimPrefix(p, "$")
	return strings.TrimPrefix(p, ".")
}

// path is a location in a plan: string keys and int indexes.
type path []any

func (p path) String() string {
	var b strings.Builder
	for _, s := range p {
		switch v := s.(type) {
		case int:
			b.WriteString("[" + strconv.Itoa(v) + "]")
		case string:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(v)
		}
	}
	return b.String()
}

// lookup returns the deepest node of root along p: the node itself (its key
// with atKey) when it exists, else its nearest existing parent.
func lookup(root ast.Node, p path, atKey bool) ast.Node {
	cur := root
	for i, seg := range p {
		n := unwrap(cur)
		var next ast.Node
		switch key := seg.(type) {
		case string:
			for _, mv := range mappingValues(n) {
				if k, ok := mv.Key.(ast.Node); ok && keyString(k) == key {
					next = mv.Value
					if _, isNull := unwrap(next).(*ast.NullNode); isNull || (atKey && i == len(p)-1) {
						// Point at the field's key: "field: message".
						next = mv.Key
					}
					break
				}
			}
		case int:
			if s, ok := n.(*ast.SequenceNode); ok && key >= 0 && key < len(s.Values) {
				next = s.Values[key]
			}
		}
		if next == nil {
			// A missing field: point at the mapping's first key, not its colon.
			if mvs := mappingValues(n); len(mvs) > 0 {
				return mvs[0].Key
			}
			return cur
		}
		cur = next
	}
	// A whole mapping (a step): point at its first key, not its colon.
	if mvs := mappingValues(unwrap(cur)); len(mvs) > 0 {
		return mvs[0].Key
	}
	return cur
}

func mappingValues(n ast.Node) []*ast.MappingValueNode {
	switch m := n.(type) {
	case *ast.MappingNode:
		return m.Values
	case *ast.MappingValueNode:
		return []*ast.MappingValueNode{m}
	}
	return nil
}

func keyString(k ast.Node) string {
	if s, ok := scalarString(k); ok {
		return s
	}
	return k.String()
}
