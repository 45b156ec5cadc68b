package notice

import (
	"fmt"
	"os"
	"path/filepath"
)

// The files Write writes.
const (
	FileMarkdown = "notice.md"
	FileHTML     = "notice.html"
)

// Write renders n into dir as notice.md and notice.html, creating dir if
// needed, each passed through mask (nil: as rendered) before it is
// written. Both are rendered before either is written, and only inside
// dir: a symlink there that points out of it is refused.
func (n *Notice) Write(dir string, mask func([]byte) []byte) error {
	h, err := n.HTML()
	if err != nil {
		return fmt.Errorf("render %s: %w", FileHTML, err)
	}
	files := []struct {
		name string
		b    []byte
	}{{FileMarkdown, append(n.Markdown(), '\n')}, {FileHTML, h}}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write notice: %w", err)
	}
	root, err := os.OpenRoot(dir) // a symlink never leads a file out of dir
	if err != nil {
		return fmt.Errorf("write notice: %w", err)
	}
	defer root.Close()
	for _, f := range files {
		if mask != nil {
			f.b = mask(f.b)
		}
		if err := root.WriteFile(f.name, f.b, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", filepath.Join(dir, f.name), err)
		}
	}
	return nil
}
