package safety_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/aiuptime/aiuptime/stack"
	"github.com/aiuptime/aiuptime/stack/containers"
)

// What the specs observe from outside the drill: Docker state (read
// only), and files by content and modification time.

// runsDir is where a drill with state directory stateDir keeps its run
// dirs; its embedded stack's resources carry it as containers.LabelStateDir.
func runsDir(stateDir string) string { return filepath.Join(stateDir, "runs") }

// modelStates returns the Docker state (running, paused, ...) of each
// model container of the embedded stack a drill with state directory
// stateDir started, by service name.
func modelStates(ctx context.Context, stateDir string) (map[string]string, error) {
	cs, err := dockerCli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(
		filters.Arg("label", containers.LabelStateDir+"="+runsDir(stateDir)),
		filters.Arg("label", stack.LabelRole+"="+string(stack.RoleModel)))})
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, c := range cs {
		out[c.Labels[stack.LabelService]] = string(c.State)
	}
	return out, nil
}

// containerEnv returns the environment of the first container of a
// drill's stack (state directory stateDir) that has service's label.
func containerEnv(ctx context.Context, stateDir, service string) ([]string, error) {
	cs, err := dockerCli.ContainerList(ctx, container.ListOptions{Filters: filters.NewArgs(
		filters.Arg("label", containers.LabelStateDir+"="+runsDir(stateDir)),
		filters.Arg("label", stack.LabelService+"="+service))})
	if err != nil || len(cs) == 0 {
		return nil, err
	}
	ins, err := dockerCli.ContainerInspect(ctx, cs[0].ID)
	if err != nil || ins.Config == nil {
		return nil, err
	}
	return ins.Config.Env, nil
}

// createdFor returns the Docker create events between since and until
// (containers, networks, volumes) of resources that carry a label tying
// them to a state directory under dir or to the process pid (if not 0):
// what a drill run from dir by pid created, also if it removed it again.
func createdFor(ctx context.Context, since, until time.Time, dir string, pid int) []string {
	GinkgoHelper()
	f := filters.NewArgs(filters.Arg("type", "container"), filters.Arg("type", "network"), filters.Arg("type", "volume"),
		filters.Arg("event", "create"))
	ts := func(t time.Time) string { return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond()) }
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	msgs, errs := dockerCli.Events(ctx, events.ListOptions{Since: ts(since), Until: ts(until), Filters: f})
	var out []string
	for {
		select {
		case m := <-msgs:
			a := m.Actor.Attributes
			ours := strings.HasPrefix(a[containers.LabelStateDir], dir)
			if pid > 0 && strings.HasPrefix(a[containers.LabelOwner], fmt.Sprintf("%d.", pid)) {
				ours = true
			}
			if ours {
				out = append(out, fmt.Sprintf("%s %s %s (run %s)", m.Type, m.Action, a["name"], a[stack.LabelRun]))
			}
		case err := <-errs:
			if err != io.EOF {
				Expect(err).NotTo(HaveOccurred(), "docker events")
			}
			return out
		}
	}
}

// fileprint is what proves a file untouched: its bytes' checksum, size,
// modification time and inode.
type fileprint struct {
	Sum   string
	Size  int64
	MTime time.Time
	Ino   uint64
}

// printOf fingerprints the file at p (not following a final link).
func printOf(p string) fileprint {
	GinkgoHelper()
	fi, err := os.Lstat(p)
	Expect(err).NotTo(HaveOccurred())
	b, err := os.ReadFile(p)
	Expect(err).NotTo(HaveOccurred())
	sum := sha256.Sum256(b)
	fp := fileprint{Sum: hex.EncodeToString(sum[:]), Size: fi.Size(), MTime: fi.ModTime()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		fp.Ino = st.Ino
	}
	return fp
}

// treeprint fingerprints every entry beneath dir by its path relative to
// dir: a regular file by printOf, a link by its target, a directory by
// its mode. Links are never followed.
func treeprint(dir string) map[string]string {
	GinkgoHelper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			t, err := os.Readlink(p)
			out[rel] = "link -> " + t
			return err
		case d.Type().IsRegular():
			out[rel] = fmt.Sprintf("%+v", printOf(p))
		default:
			out[rel] = d.Type().String()
		}
		return nil
	})
	Expect(err).NotTo(HaveOccurred())
	return out
}

// preciousFile writes 64 KiB of patterned bytes into a new temporary
// directory the spec owns (outside every volume) and returns the
// directory and the file.
func preciousFile() (dir, file string) {
	GinkgoHelper()
	dir = GinkgoT().TempDir()
	file = filepath.Join(dir, "precious.bin")
	b := make([]byte, 64<<10)
	for i := range b {
		b[i] = byte(i*31 + i>>8)
	}
	Expect(os.WriteFile(file, b, 0o600)).To(Succeed())
	// An mtime in the past, so that a rewrite within the same clock tick
	// would still show.
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	Expect(os.Chtimes(file, old, old)).To(Succeed())
	return dir, file
}
