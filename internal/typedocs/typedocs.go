// Package typedocs reads the doc comments of Go types and their fields
// from source files embedded in a package, so a JSON Schema generated from
// the types describes each field with the comment a Go reader sees.
package typedocs

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"strings"
)

// Parse returns "Type" and "Type.Field" doc comments (one line each) of
// every .go file at the top of fsys.
func Parse(fsys fs.FS) map[string]string {
	docs := map[string]string{}
	fset := token.NewFileSet()
	entries, _ := fs.ReadDir(fsys, ".")
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") {
			continue
		}
		src, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			continue
		}
		f, err := parser.ParseFile(fset, e.Name(), src, parser.ParseComments)
		if err != nil {
			continue
		}
		for _, decl := range f.Decls {
			if gd, ok := decl.(*ast.GenDecl); ok && gd.Tok == token.TYPE {
				typeDecl(gd, docs)
			}
		}
	}
	return docs
}

func typeDecl(gd *ast.GenDecl, docs map[string]string) {
	for _, spec := range gd.Specs {
		ts := spec.(*ast.TypeSpec)
		doc := ts.Doc
		if doc == nil && len(gd.Specs) == 1 {
			doc = gd.Doc
		}
		if doc != nil {
			docs[ts.Name.Name] = oneLine(doc.Text())
		}
		st, ok := ts.Type.(*ast.StructType)
		if !ok {
			continue
		}
		for _, fld := range st.Fields.List {
			if fld.Doc == nil {
				continue
			}
			for _, n := range fld.Names {
				docs[ts.Name.Name+"."+n.Name] = oneLine(fld.Doc.Text())
			}
		}
	}
}

// oneLine is a comment's first paragraph on one line (examples indented
// below it stay in the Go source).
func oneLine(s string) string {
	first, _, _ := strings.Cut(s, "\n\n")
	return strings.Join(strings.Fields(first), " ")
}
