package yamldoc

import (
	"fmt"

	"github.com/goccy/go-yaml/ast"
)

// ParseAll is Parse for files that hold several objects, as OpenSLO and
// Kubernetes files do: documents separated by ---, a document whose body
// is a list of objects, or both. Each object comes back as its own Doc
// (its field paths start at the object; its positions are the file's).
// The limits are checked on the whole file first. Errors are *Error.
func ParseAll(file string, data []byte, what string) (docs []*Doc, err error) {
	defer func() {
		if r := recover(); r != nil {
			docs, err = nil, &Error{File: file, Msg: fmt.Sprintf("cannot decode %s: %v", what, r)}
		}
	}()
	all, err := documents(file, data)
	if err != nil {
		return nil, err
	}
	for _, d := range all {
		if err := treeLimits(file, d.Body); err != nil {
			return nil, err
		}
		objs := []ast.Node{d.Body}
		if s, ok := Unwrap(d.Body).(*ast.SequenceNode); ok {
			objs = s.Values
		}
		for _, o := range objs {
			switch Unwrap(o).(type) {
			case *ast.MappingNode, *ast.MappingValueNode:
				docs = append(docs, &Doc{File: file, Root: o})
			default:
				return nil, atNode(file, o, "", what+" is a mapping of keys, got "+Kind(o))
			}
		}
	}
	if len(docs) == 0 {
		return nil, &Error{File: file, Msg: "no object in " + what}
	}
	return docs, nil
}
