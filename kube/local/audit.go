package local

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
)

// Audit is what AuditAll found of one cluster's state dir.
type Audit struct {
	Name string
	Dir  string
	// Running and Recorded count the recorded processes that are still
	// ours and all that cluster.json records.
	Running, Recorded int
	// Strays are processes of ours that name the dir without being
	// recorded (a start that died half-way).
	Strays int
	// Leftover says the cluster is not whole: something of it is left
	// behind rather than kept on purpose (a whole cluster was started by
	// `drill kube up` and is left alone).
	Leftover bool
	// Detail says what was found, in words.
	Detail string
}

// AuditAll looks at every cluster state dir under root (<state dir>/kube)
// and reports each; it changes nothing. A missing root is no cluster.
func AuditAll(root string) ([]Audit, error) {
	ents, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("audit local clusters: %w", err)
	}
	var out []Audit
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		out = append(out, auditDir(filepath.Join(root, e.Name())))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// auditDir reports one state dir.
func auditDir(dir string) Audit {
	a := Audit{Name: filepath.Base(dir), Dir: dir}
	strays, _ := Strays(dir) // unreadable /proc: no strays seen
	st, err := Load(dir)
	if err != nil {
		a.Strays, a.Leftover = len(strays), true
		a.Detail = fmt.Sprintf("a state dir without a readable %s (%d stray process(es)): remove it by hand after a look", StateFile, a.Strays)
		return a
	}
	recorded := map[int]bool{}
	for _, p := range st.Processes {
		recorded[p.PID] = true
		a.Recorded++
		if p.Ours() {
			a.Running++
		}
	}
	for _, p := range strays {
		if !recorded[p.PID] {
			a.Strays++
		}
	}
	whole := a.Running == len(components) && a.Recorded == len(components) && a.Strays == 0
	a.Leftover = !whole
	switch {
	case whole:
		a.Detail = fmt.Sprintf("running (drill kube up), %d of %d components: `drill kube down --name %s` stops it", a.Running, len(components), a.Name)
	default:
		a.Detail = fmt.Sprintf("not whole: %d of %d recorded components running, %d stray process(es): `drill cleanup` (or `drill kube down --name %s`) removes it",
			a.Running, a.Recorded, a.Strays, a.Name)
	}
	return a
}
