// Package plans holds the drill plans shipped with the tool and their JSON
// Schema, embedded so that `drill list` and `drill run NAME` work from any
// directory.
package plans

import (
	"embed"
	"io/fs"
	"sort"
	"strings"
)

//go:embed *.yaml schema.json
var files embed.FS

// FS returns the embedded plans (*.yaml) and schema.json.
func FS() fs.FS { return files }

// Names lists the shipped plan files (gpu-failover.yaml, ...), sorted.
func Names() []string {
	entries, _ := fs.ReadDir(files, ".")
	var out []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".yaml") {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out
}

// Read returns the shipped plan with the given file name; ".yaml" may be left off.
func Read(name string) ([]byte, error) {
	if !strings.HasSuffix(name, ".yaml") {
		name += ".yaml"
	}
	return files.ReadFile(name)
}
