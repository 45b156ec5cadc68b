package yamldoc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"unicode/utf8"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
)

// Limits of a document, checked before it is decoded, so that a hostile
// file (a "billion laughs" of aliases, a deep flow sequence, a huge file)
// is refused within a second and a few megabytes instead of exhausting
// memory: the YAML library parses nesting in quadratic time and decoding
// shares what aliases point at, which later readers expand.
const (
	// MaxBytes is the largest document: 1 MiB.
	MaxBytes = 1 << 20
	// MaxDepth is the deepest nesting of mappings and lists (aliases
	// count as the nesting they stand for).
	MaxDepth = 64
	// MaxTokens is the most YAML tokens (keys, values, list entries, flow
	// indicators) a document may hold; the shipped plans hold a few
	// hundred.
	MaxTokens = 20_000
	// MaxNodes is the most nodes a document may stand for once every
	// alias is expanded.
	MaxNodes = 20_000
)

// ErrLimit marks a document refused for its size, nesting or alias
// expansion (errors.Is on the *Error).
var ErrLimit = errors.New("document exceeds a limit")

// bom is the UTF-8 byte order mark some editors write first.
var bom = []byte{0xEF, 0xBB, 0xBF}

// ReadFile reads a document of at most MaxBytes from path without reading
// more than that (a device or a huge file costs no memory). what names it
// in errors ("plan", "stack file"); a missing file is an *Error wrapping
// fs.ErrNotExist.
func ReadFile(path, what string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, readError(path, what, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && !fi.Mode().IsRegular() {
		return nil, &Error{File: path, Msg: fmt.Sprintf("%s is not a regular file (%s)", what, fi.Mode().Type()), err: fs.ErrInvalid}
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxBytes+1))
	if err != nil {
		return nil, readError(path, what, err)
	}
	if len(b) > MaxBytes {
		return nil, tooBig(path)
	}
	return b, nil
}

func readError(path, what string, err error) *Error {
	msg := fmt.Sprintf("read %s: %v", what, unwrapPath(err))
	if errors.Is(err, fs.ErrNotExist) {
		msg = "no such " + what
	}
	return &Error{File: path, Msg: msg, err: err}
}

// unwrapPath drops the *fs.PathError's path, which the message already names.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func tooBig(file string) *Error {
	return &Error{File: file, Msg: fmt.Sprintf("the file is larger than %d bytes (1 MiB): refused", MaxBytes), err: ErrLimit}
}

// precheck refuses what is too large, not UTF-8 or nested too deeply
// before the YAML library parses it, and strips a UTF-8 byte order mark.
func precheck(file string, data []byte) ([]byte, error) {
	if len(data) > MaxBytes {
		return nil, tooBig(file)
	}
	data = bytes.TrimPrefix(data, bom)
	if !utf8.Valid(data) {
		line, col := invalidUTF8(data)
		return nil, &Error{File: file, Line: line, Col: col, Msg: "not UTF-8 text"}
	}
	return data, scanLimits(file, data)
}

// invalidUTF8 is the line and column of the first byte that is not UTF-8.
func invalidUTF8(data []byte) (line, col int) {
	line, col = 1, 1
	for len(data) > 0 {
		r, n := utf8.DecodeRune(data)
		if r == utf8.RuneError && n <= 1 {
			return line, col
		}
		if r == '\n' {
			line, col = line+1, 0
		}
		col++
		data = data[n:]
	}
	return line, col
}

// scanLimits refuses a document with too many tokens or too deep a
// nesting, before it is parsed (see prescan).
func scanLimits(file string, data []byte) error {
	p := prescan{data: data}
	if le := p.run(); le != nil {
		return &Error{File: file, Line: le.line, Col: le.col, Msg: le.msg, err: ErrLimit}
	}
	return nil
}

// nest records a block collection entry at col: entries at smaller
// columns close the deeper ones.
func nest(open []int, col int) []int {
	for len(open) > 0 && open[len(open)-1] > col {
		open = open[:len(open)-1]
	}
	if len(open) == 0 || open[len(open)-1] < col {
		open = append(open, col)
	}
	return open
}

func limitAt(file string, tk *token.Token, format string, args ...any) *Error {
	e := &Error{File: file, Msg: fmt.Sprintf(format, args...), err: ErrLimit}
	if tk != nil && tk.Position != nil {
		e.Line, e.Col = tk.Position.Line, tk.Position.Column
	}
	return e
}

// measure is the size and depth a node stands for.
type measure struct{ nodes, depth int }

// treeLimits measures the parsed tree with every alias expanded: nodes
// and nesting. Aliases are not followed but stand for what their anchor
// measured, so the walk is linear in the file.
func treeLimits(file string, root ast.Node) error {
	w := &limitWalk{file: file, anchors: map[string]measure{}}
	_, err := w.walk(root, 0)
	return err
}

type limitWalk struct {
	file    string
	anchors map[string]measure
	total   int
}

func (w *limitWalk) walk(n ast.Node, depth int) (measure, error) {
	if n == nil {
		return measure{}, nil
	}
	if depth > MaxDepth {
		return measure{}, limitAt(w.file, n.GetToken(), "nested deeper than %d levels: refused", MaxDepth)
	}
	var kids []ast.Node
	switch v := n.(type) {
	case *ast.AnchorNode:
		m, err := w.walk(v.Value, depth)
		if err == nil {
			w.anchors[anchorName(v.Name)] = m
		}
		return m, err
	case *ast.AliasNode:
		name := anchorName(v.Value)
		m := w.anchors[name]
		if depth+m.depth > MaxDepth {
			return m, limitAt(w.file, v.GetToken(), "alias *%s nests deeper than %d levels: refused", name, MaxDepth)
		}
		return m, w.add(v, max(m.nodes, 1))
	case *ast.TagNode:
		return w.walk(v.Value, depth)
	case *ast.MappingKeyNode:
		return w.walk(v.Value, depth)
	case *ast.MappingNode:
		for _, mv := range v.Values {
			kids = append(kids, mv.Key, mv.Value)
		}
	case *ast.MappingValueNode: // a mapping of one pair
		kids = []ast.Node{v.Key, v.Value}
	case *ast.SequenceNode:
		kids = v.Values
	default: // a scalar
		return measure{nodes: 1}, w.add(n, 1)
	}
	m := measure{nodes: 1, depth: 1}
	if err := w.add(n, 1); err != nil {
		return m, err
	}
	for _, k := range kids {
		km, err := w.walk(k, depth+1)
		if err != nil {
			return m, err
		}
		m.nodes = min(m.nodes+km.nodes, MaxNodes+1)
		m.depth = max(m.depth, km.depth+1)
	}
	return m, nil
}

// add counts nodes towards the document's expanded size.
func (w *limitWalk) add(at ast.Node, nodes int) error {
	w.total = min(w.total+nodes, MaxNodes+1)
	if w.total > MaxNodes {
		what := "the document stands for"
		if a, ok := at.(*ast.AliasNode); ok {
			what = "with alias *" + anchorName(a.Value) + " expanded the document stands for"
		}
		return limitAt(w.file, at.GetToken(), "%s more than %d nodes: refused", what, MaxNodes)
	}
	return nil
}

func anchorName(n ast.Node) string {
	if n == nil {
		return ""
	}
	if tk := n.GetToken(); tk != nil {
		return tk.Value
	}
	return n.String()
}
