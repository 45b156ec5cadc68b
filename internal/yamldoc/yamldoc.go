// Package yamldoc decodes one YAML document strictly (unknown keys are
// errors) into a Go value and places every problem at file:line:col with
// the path of the offending field. Plans and stack files are read through
// it, so both report errors the same way; value types (units) report their
// own problems with NodeError from their UnmarshalYAML and keep the
// position.
package yamldoc

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"

	"github.com/aiuptime/aiuptime/exitcode"
)

// Error is one problem in a document, at a position in its file. It renders
// as "file:line:col: field: message".
type Error struct {
	File string
	// Line and Col are 1-based; 0 when the problem has no single place.
	Line, Col int
	// Field is the path of the offending field, e.g. steps[2].target.percent.
	Field string
	Msg   string

	node ast.Node // set by NodeError, for the field path
	err  error    // the cause for errors.Is (ErrLimit, fs.ErrNotExist), if any
}

// Error formats the problem as file:line:col: field: message.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if b.Len() == 0 {
		b.WriteString("document")
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

// ExitCode makes an invalid document exit 2 (bad usage or invalid input).
func (e *Error) ExitCode() int { return exitcode.Usage }

// Unwrap returns the cause: ErrLimit for a document refused by a limit,
// the file system's error for one that could not be read.
func (e *Error) Unwrap() error { return e.err }

// Errors is every problem found in a document, in file order.
type Errors []*Error

// Error lists the problems, one a line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// ExitCode makes an invalid document exit 2.
func (es Errors) ExitCode() int { return exitcode.Usage }

// Unwrap exposes the single problems to errors.As and errors.Is.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// Sorted returns the errors in file order (line, then column).
func (es Errors) Sorted() Errors {
	out := append(Errors(nil), es...)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Line != out[j].Line {
			return out[i].Line < out[j].Line
		}
		return out[i].Col < out[j].Col
	})
	return out
}

// NodeError is an error at node's position, for UnmarshalYAML methods; the
// decoder adds the file and the field path.
func NodeError(node ast.Node, format string, args ...any) error {
	e := &Error{Msg: fmt.Sprintf(format, args...), node: node}
	if tk := node.GetToken(); tk != nil && tk.Position != nil {
		e.Line, e.Col = tk.Position.Line, tk.Position.Column
	}
	return e
}

// Doc is a parsed YAML document.
type Doc struct {
	// File names the source in errors.
	File string
	// Root is the document's body.
	Root ast.Node
}

// documents checks data's byte and token limits, parses it and returns its
// documents that have a body. Call it under a recover: the YAML library is
// third-party code fed with user input.
func documents(file string, data []byte) ([]*ast.DocumentNode, error) {
	data, err := precheck(file, data)
	if err != nil {
		return nil, err
	}
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, fromYAML(file, nil, err)
	}
	var docs []*ast.DocumentNode
	for _, d := range f.Docs {
		if d != nil && d.Body != nil {
			docs = append(docs, d)
		}
	}
	return docs, nil
}

// Parse checks data's limits (MaxBytes, MaxTokens, MaxDepth, MaxNodes with
// aliases expanded) before anything else, then its syntax, and that it
// holds exactly one YAML document whose body is a mapping. A UTF-8 byte
// order mark is skipped. what names the document in messages ("a plan").
// Errors are *Error.
func Parse(file string, data []byte, what string) (d *Doc, err error) {
	defer func() {
		// The YAML library is third-party code fed with user input: a panic
		// in it is an invalid document, not a crash.
		if r := recover(); r != nil {
			d, err = nil, &Error{File: file, Msg: fmt.Sprintf("cannot decode %s: %v", what, r)}
		}
	}()
	docs, err := documents(file, data)
	if err != nil {
		return nil, err
	}
	if len(docs) == 0 {
		return nil, &Error{File: file, Msg: "empty " + strings.TrimPrefix(strings.TrimPrefix(what, "a "), "an ")}
	}
	if len(docs) > 1 {
		tk := docs[1].Body.GetToken()
		return nil, &Error{File: file, Line: tk.Position.Line, Col: tk.Position.Column, Msg: "the file holds more than one YAML document"}
	}
	body := docs[0].Body
	if err := treeLimits(file, body); err != nil {
		return nil, err
	}
	switch Unwrap(body).(type) {
	case *ast.MappingNode, *ast.MappingValueNode:
	default:
		return nil, atNode(file, body, "", what+" is a mapping of keys, got "+Kind(body))
	}
	return &Doc{File: file, Root: body}, nil
}

// Decode decodes the document strictly into v (unknown keys are errors).
// The error is an *Error with the position and field.
func (d *Doc) Decode(v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &Error{File: d.File, Msg: fmt.Sprintf("cannot decode: %v", r)}
		}
	}()
	if err := yaml.NodeToValue(d.Root, v, yaml.DisallowUnknownField()); err != nil {
		return fromYAML(d.File, d.Root, err)
	}
	return nil
}

// Errorf is an error at the field path p (at its key with atKey: an unknown
// key is wrong as a key), or at the nearest existing parent.
func (d *Doc) Errorf(p Path, atKey bool, format string, args ...any) *Error {
	e := &Error{File: d.File, Field: p.String(), Msg: fmt.Sprintf(format, args...)}
	if n := lookup(d.Root, p, atKey); n != nil {
		if tk := n.GetToken(); tk != nil && tk.Position != nil {
			e.Line, e.Col = tk.Position.Line, tk.Position.Column
		}
	}
	return e
}

// At returns the node at the field path p (tags and anchors stripped), or
// false when the document has no such field.
func (d *Doc) At(p Path) (ast.Node, bool) {
	cur := d.Root
	for _, seg := range p {
		next, _ := child(Unwrap(cur), seg)
		if next == nil {
			return nil, false
		}
		cur = next
	}
	return Unwrap(cur), true
}

// child is the value at seg (a key or an index) of n, and the key's node
// for a key (nil when there is none).
func child(n ast.Node, seg any) (value, key ast.Node) {
	switch k := seg.(type) {
	case string:
		for _, mv := range mappingValues(n) {
			if mv.Key != nil && keyString(mv.Key) == k {
				return mv.Value, mv.Key
			}
		}
	case int:
		if s, ok := n.(*ast.SequenceNode); ok && k >= 0 && k < len(s.Values) {
			return s.Values[k], nil
		}
	}
	return nil, nil
}

func atNode(file string, n ast.Node, field, msg string) *Error {
	e := &Error{File: file, Field: field, Msg: msg}
	if tk := n.GetToken(); tk != nil && tk.Position != nil {
		e.Line, e.Col = tk.Position.Line, tk.Position.Column
	}
	return e
}

// fromYAML turns a go-yaml error (or a NodeError from an UnmarshalYAML)
// into an *Error with the field path.
func fromYAML(file string, root ast.Node, err error) *Error {
	var pe *Error
	if errors.As(err, &pe) {
		e := *pe
		e.File = file
		if e.node != nil && e.Field == "" {
			e.Field = fieldPath(e.node.GetPath())
		}
		e.node = nil
		return &e
	}
	e := &Error{File: file}
	var ye yaml.Error
	if !errors.As(err, &ye) {
		e.Msg = err.Error()
		return e
	}
	// Never ye.Error(): it prints the source around the token, in time
	// quadratic in the document's tokens.
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
	return e
}

func typeWord(t string) string {
	switch {
	case strings.HasPrefix(t, "[]"):
		return "a list"
	case strings.HasPrefix(t, "map["), strings.Contains(t, "."):
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

// Path is a location in a document: string keys and int indexes.
type Path []any

// String renders the path as steps[2].target.percent.
func (p Path) String() string {
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

// Add returns a new path with more segments (p is not changed).
func (p Path) Add(seg ...any) Path { return append(append(Path(nil), p...), seg...) }

// lookup returns the deepest node of root along p: the node itself (its key
// with atKey) when it exists, else its nearest existing parent.
func lookup(root ast.Node, p Path, atKey bool) ast.Node {
	cur := root
	for i, seg := range p {
		n := Unwrap(cur)
		next, key := child(n, seg)
		if _, isNull := Unwrap(next).(*ast.NullNode); key != nil && (isNull || (atKey && i == len(p)-1)) {
			// Point at the field's key: "field: message".
			next = key
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
	if mvs := mappingValues(Unwrap(cur)); len(mvs) > 0 {
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
	if s, ok := Scalar(k); ok {
		return s
	}
	return k.String()
}

// Unwrap strips tags and anchors off a node.
func Unwrap(node ast.Node) ast.Node {
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

// Scalar returns the text of a scalar node (string, number, inf, nan).
func Scalar(node ast.Node) (string, bool) {
	node = Unwrap(node)
	switch n := node.(type) {
	case *ast.StringNode:
		return n.Value, true
	case *ast.IntegerNode, *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		return n.GetToken().Value, true
	}
	return "", false
}

// Kind names what a node is, for messages: "a mapping", "a list", ...
func Kind(node ast.Node) string {
	switch Unwrap(node).(type) {
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
