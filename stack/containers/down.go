package containers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
	"golang.org/x/sys/unix"

	"github.com/aiuptime/aiuptime/internal/procfs"
	"github.com/aiuptime/aiuptime/stack"
	"github.com/aiuptime/aiuptime/stack/dockerhost"
)

// Removed lists what Down removed.
type Removed struct {
	Containers []string `json:"containers"` // names
	Networks   []string `json:"networks"`
	Volumes    []string `json:"volumes"`
	Mounts     []string `json:"mounts"`   // unmounted data volumes
	RunDirs    []string `json:"run_dirs"` // removed state dirs
	// Kept are run dirs left in place: they hold no marker of their run
	// (an older version's, or not ours), so nothing proves they may go.
	Kept []string `json:"kept,omitempty"`
}

// Count is the number of resources removed.
func (r Removed) Count() int {
	return len(r.Containers) + len(r.Networks) + len(r.Volumes) + len(r.Mounts) + len(r.RunDirs)
}

// runFilter selects the resources of one run ("" for every run).
func runFilter(runID string) filters.Args {
	label := stack.LabelRun
	if runID != "" {
		label += "=" + runID
	}
	return filters.NewArgs(filters.Arg("label", label))
}

// Resource is one Docker object of an embedded stack's run.
type Resource struct {
	// Kind is container, network or volume.
	Kind  string `json:"kind"`
	Name  string `json:"name"`
	Run   string `json:"run"`
	State string `json:"state,omitempty"`
	// Owner is the process that started the run (LabelOwner; "" for a
	// stack of an older version) and Keep whether it was kept (LabelKeep).
	Owner string `json:"owner,omitempty"`
	Keep  bool   `json:"keep,omitempty"`
}

func resourceOf(kind, name string, labels map[string]string) Resource {
	return Resource{Kind: kind, Name: name, Run: labels[stack.LabelRun], Owner: labels[LabelOwner], Keep: labels[LabelKeep] == "true"}
}

// Resources lists the containers, networks and volumes of run runID
// ("" for every run), from any process. It changes nothing.
func Resources(ctx context.Context, runID string) ([]Resource, error) {
	cli, err := dockerhost.Connect(ctx)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	f := runFilter(runID)
	var out []Resource
	ctrs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	for _, c := range ctrs {
		name := c.ID[:12]
		if len(c.Names) > 0 {
			name = c.Names[0][1:]
		}
		r := resourceOf("container", name, c.Labels)
		r.State = string(c.State)
		out = append(out, r)
	}
	nets, err := cli.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		return out, fmt.Errorf("list networks: %w", err)
	}
	for _, n := range nets {
		out = append(out, resourceOf("network", n.Name, n.Labels))
	}
	vols, err := cli.VolumeList(ctx, volume.ListOptions{Filters: f})
	if err != nil {
		return out, fmt.Errorf("list volumes: %w", err)
	}
	for _, v := range vols.Volumes {
		out = append(out, resourceOf("volume", v.Name, v.Labels))
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Run < out[j].Run })
	return out, nil
}

// Runs lists the run ids that have resources on this host.
func Runs(ctx context.Context) ([]string, error) {
	rs, err := Resources(ctx, "")
	seen := map[string]bool{}
	var out []string
	for _, r := range rs {
		if r.Run != "" && !seen[r.Run] {
			seen[r.Run] = true
			out = append(out, r.Run)
		}
	}
	return out, err
}

// Down removes every container, network and volume labelled
// aiuptime.run=runID, unmounts its data volume and removes its run dir.
// With runID "" it does so for every run (every resource carrying the
// aiuptime.run label): that is `drill stack down` without --run. It works
// from any process. Errors are joined; Down removes what it can.
func Down(ctx context.Context, runID string) (Removed, error) {
	cli, err := dockerhost.Connect(ctx)
	if err != nil {
		return Removed{}, err
	}
	defer cli.Close()
	return down(ctx, cli, runID)
}

func down(ctx context.Context, cli client.APIClient, runID string) (Removed, error) {
	var rm Removed
	var errs []error
	f := runFilter(runID)
	type runKey struct{ stateDir, run string }
	runs := map[runKey]bool{}
	if runID != "" {
		runs[runKey{DefaultStateDir(), runID}] = true
	}
	note := func(l map[string]string) {
		if r := l[stack.LabelRun]; r != "" && l[LabelStateDir] != "" {
			runs[runKey{l[LabelStateDir], r}] = true
		}
	}

	ctrs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return rm, fmt.Errorf("list containers: %w", err)
	}
	for _, c := range ctrs {
		note(c.Labels)
		name := c.ID[:12]
		if len(c.Names) > 0 {
			name = c.Names[0][1:]
		}
		err := cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
		if err != nil && !client.IsErrNotFound(err) {
			errs = append(errs, fmt.Errorf("remove container %s: %w", name, err))
			continue
		}
		rm.Containers = append(rm.Containers, name)
	}
	nets, err := cli.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		errs = append(errs, fmt.Errorf("list networks: %w", err))
	}
	for _, n := range nets {
		note(n.Labels)
		if err := cli.NetworkRemove(ctx, n.ID); err != nil && !client.IsErrNotFound(err) {
			errs = append(errs, fmt.Errorf("remove network %s: %w", n.Name, err))
			continue
		}
		rm.Networks = append(rm.Networks, n.Name)
	}
	vols, err := cli.VolumeList(ctx, volume.ListOptions{Filters: f})
	if err != nil {
		errs = append(errs, fmt.Errorf("list volumes: %w", err))
	}
	for _, v := range vols.Volumes {
		note(v.Labels)
		if err := removeVolume(ctx, cli, v.Name); err != nil {
			errs = append(errs, err)
			continue
		}
		rm.Volumes = append(rm.Volumes, v.Name)
	}
	if runID == "" {
		// Runs whose containers are gone but whose files are left.
		if ents, err := os.ReadDir(DefaultStateDir()); err == nil {
			for _, e := range ents {
				if e.IsDir() && validRunID(e.Name()) {
					runs[runKey{DefaultStateDir(), e.Name()}] = true
				}
			}
		}
	}
	keys := make([]runKey, 0, len(runs))
	for k := range runs {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].run < keys[j].run })
	for _, k := range keys {
		if err := removeRunDir(k.stateDir, k.run, &rm); err != nil {
			errs = append(errs, err)
		}
	}
	return rm, errors.Join(errs...)
}

// removeRunDir unmounts a run dir's data volume and removes the dir (a
// missing dir is success). The dir must hold the run's marker: a label
// naming another state dir or run cannot make it remove anything else.
func removeRunDir(stateDir, run string, rm *Removed) error {
	if !validRunID(run) || !filepath.IsAbs(stateDir) {
		return nil
	}
	dir := filepath.Join(filepath.Clean(stateDir), run)
	if _, err := os.Lstat(dir); err != nil {
		return nil
	}
	if b, err := os.ReadFile(filepath.Join(dir, RunMarker)); err != nil || strings.TrimSpace(string(b)) != run {
		rm.Kept = append(rm.Kept, dir)
		return nil
	}
	data := filepath.Join(dir, "data")
	// A mount can be stacked on the data dir more than once, and a container
	// that is still exiting can hold it for a moment: unmount until it is no
	// mount point, and retry the removal a few times on EBUSY.
	var err error
	for attempt := 0; attempt < 10; attempt++ {
		unmounted, uerr := unmountAll(data)
		if uerr != nil {
			return uerr // never remove files through a live mount
		}
		if unmounted && attempt == 0 {
			rm.Mounts = append(rm.Mounts, data)
		}
		if err = os.RemoveAll(dir); err == nil {
			rm.RunDirs = append(rm.RunDirs, dir)
			return nil
		}
		if !errors.Is(err, unix.EBUSY) {
			break
		}
		time.Sleep(100 * time.Millisecond) // no event says a mount was released
	}
	return fmt.Errorf("remove run dir: %w", err)
}

// unmountAll unmounts dir until it is no mount point (at most 8 stacked
// mounts) and reports whether anything was unmounted.
func unmountAll(dir string) (bool, error) {
	did := false
	for i := 0; i < 8; i++ {
		mounted, err := isMountPoint(dir)
		if err != nil || !mounted {
			return did, err
		}
		if err := unmountDir(dir); err != nil {
			return did, err
		}
		did = true
	}
	return did, fmt.Errorf("unmount %s: still a mount point after 8 unmounts", dir)
}

// removeVolume removes a volume, retrying briefly while a just-removed
// container still holds it.
func removeVolume(ctx context.Context, cli client.APIClient, name string) error {
	var err error
	for i := 0; i < 20; i++ {
		err = cli.VolumeRemove(ctx, name, true)
		if err == nil || client.IsErrNotFound(err) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("remove volume %s: %w", name, err)
		case <-time.After(250 * time.Millisecond):
		}
	}
	return fmt.Errorf("remove volume %s: %w", name, err)
}

// Stop removes everything the stack created (idempotent). It runs under
// context.WithoutCancel with its own bound, so a cancelled ctx still
// cleans up.
func (s *Stack) Stop(ctx context.Context) error {
	s.stopOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		s.removed, s.stopErr = down(ctx, s.cli, s.runID)
		// Our own run dir, even when no labelled resource pointed at it
		// (a start that failed before the network existed).
		if err := removeRunDir(s.o.stateDir, s.runID, &s.removed); err != nil {
			s.stopErr = errors.Join(s.stopErr, err)
		}
		if s.stopErr == nil {
			s.log.Info("stack down", "removed", s.removed.Count())
		}
		s.cli.Close()
	})
	return s.stopErr
}

// Removed reports what Stop removed.
func (s *Stack) Removed() Removed { return s.removed }

func volumeCreate(name string, labels map[string]string) volume.CreateOptions {
	return volume.CreateOptions{Name: name, Labels: labels}
}

// newRunID returns a short random run id such as "r3f9a1c".
func newRunID() string { return "r" + randHex(3) }

func randHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return hex.EncodeToString(b)
}

// RunInfo is one embedded run on this host, as the labels of its
// resources tell.
type RunInfo struct {
	Run string `json:"run"`
	// Owner started the run (Known is false for a stack of an older
	// version, whose owner nobody recorded).
	Owner procfs.Ident `json:"owner"`
	Known bool         `json:"owner_known"`
	// Keep says the stack was meant to outlive its owner.
	Keep      bool `json:"keep"`
	Resources int  `json:"resources"`
}

// Abandoned reports whether nobody will remove the run's stack: its owner
// is known and gone, and it was not kept.
func (r RunInfo) Abandoned() bool { return r.Known && !r.Keep && !r.Owner.Alive() }

// RunInfos lists the embedded runs with resources on this host, by run id.
func RunInfos(ctx context.Context) ([]RunInfo, error) {
	rs, err := Resources(ctx, "")
	if err != nil {
		return nil, err
	}
	byRun := map[string]*RunInfo{}
	var order []string
	for _, r := range rs {
		if r.Run == "" {
			continue
		}
		ri, ok := byRun[r.Run]
		if !ok {
			ri = &RunInfo{Run: r.Run}
			byRun[r.Run] = ri
			order = append(order, r.Run)
		}
		ri.Resources++
		ri.Keep = ri.Keep || r.Keep
		if id, err := procfs.ParseLabel(r.Owner); err == nil && !ri.Known {
			ri.Owner, ri.Known = id, true
		}
	}
	out := make([]RunInfo, len(order))
	for i, run := range order {
		out[i] = *byRun[run]
	}
	return out, nil
}
