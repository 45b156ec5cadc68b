package local

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
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
	// HostLeftovers are what a real node of the cluster left on the host
	// outside its processes: shims, pod processes, mounts, links,
	// cgroups (see AuditNode).
	HostLeftovers []string `json:",omitempty"`
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
	var dirs []string
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		dirs = append(dirs, filepath.Join(root, e.Name()))
		out = append(out, auditDir(dirs[len(dirs)-1]))
	}
	out = append(out, orphanNodes(dirs)...)
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
	want := st.expected()
	whole := a.Running == want && a.Recorded == want && a.Strays == 0
	a.Leftover = !whole
	switch {
	case whole:
		a.Detail = fmt.Sprintf("running (drill kube up), %d of %d components: `drill kube down --name %s` stops it", a.Running, want, a.Name)
	default:
		a.Detail = fmt.Sprintf("not whole: %d of %d recorded components running, %d stray process(es): `drill cleanup` (or `drill kube down --name %s`) removes it",
			a.Running, a.Recorded, a.Strays, a.Name)
		if left := nodeLeftovers(idOf(dir), false); len(left) > 0 {
			a.HostLeftovers = left
			a.Detail += "; real node leftovers on the host: " + summarize(left)
		}
	}
	return a
}

// AuditNode lists what the real node of the cluster in the state dir dir
// left on the host (processes, mounts, bridge and veths, cgroups, log
// links, and the KUBE-/CNI- iptables chains when no real node runs);
// after Down it must be empty. It changes nothing.
func AuditNode(dir string) ([]string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("state dir %q: %w", dir, err)
	}
	return nodeLeftovers(idOf(abs), true), nil
}

// summarize shortens a list of leftovers ("cgroup /sys/...", "mount
// /...") to a count per kind with the first of each: a node leaves dozens
// of cgroups.
func summarize(items []string) string {
	var kinds []string
	count, first := map[string]int{}, map[string]string{}
	for _, it := range items {
		kind, what, _ := strings.Cut(it, " ")
		if count[kind] == 0 {
			kinds = append(kinds, kind)
			first[kind] = what
		}
		count[kind]++
	}
	parts := make([]string, 0, len(kinds))
	for _, k := range kinds {
		if count[k] == 1 {
			parts = append(parts, k+" "+first[k])
		} else {
			parts = append(parts, fmt.Sprintf("%d %ss (%s, ...)", count[k], k, first[k]))
		}
	}
	return strings.Join(parts, ", ")
}
