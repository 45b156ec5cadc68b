package faults

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	dnetwork "github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
	"github.com/vishvananda/netlink"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/chaos/disk"
	"github.com/aiuptime/aiuptime/chaos/gpu"
	"github.com/aiuptime/aiuptime/chaos/network"
	"github.com/aiuptime/aiuptime/stack"
)

// Finding is one leftover found by Audit.
type Finding struct {
	// What: journal, qdisc, link-down, nftables, container-paused,
	// container-stopped, toxic, readonly-mount, filler, stopped-process,
	// leftover-container, leftover-network, leftover-volume.
	What string `json:"what"`
	// Where names the service/container, file or proxy.
	Where  string `json:"where"`
	Detail string `json:"detail"`
}

// String renders one finding line.
func (f Finding) String() string { return fmt.Sprintf("%-18s %-24s %s", f.What, f.Where, f.Detail) }

// AuditOptions selects what Audit looks at.
type AuditOptions struct {
	// StateDir holds the journal (default chaos.StateDir()).
	StateDir string
	// RunID, if set, audits that run's stack, which is expected to be
	// running: only faults inside it are findings. Without RunID every
	// resource labelled aiuptime.run is a leftover too.
	RunID string
}

// Audit looks for anything a fault may have left behind: journal records,
// qdiscs and down links on stack container interfaces, our nftables tables,
// paused or stopped stack containers, our Toxiproxy toxics, read-only
// remounts and filler files on volumes, stopped (state T) processes, and
// (without RunID) any resource labelled aiuptime.run. It changes nothing.
func Audit(ctx context.Context, cli *client.Client, o AuditOptions) ([]Finding, error) {
	var fs []Finding
	if o.StateDir == "" {
		o.StateDir = chaos.StateDir()
	}
	recs, err := chaos.ListRecords(chaos.JournalDir(o.StateDir))
	if err != nil {
		return fs, err
	}
	for _, r := range recs {
		if o.RunID != "" && r.RunID != "" && r.RunID != o.RunID {
			continue
		}
		fs = append(fs, Finding{"journal", r.Target, fmt.Sprintf("%s (%s) injected %s by pid %d not reverted: run `drill cleanup` [%s]", r.Kind, r.Mechanism, r.Created.Format("2006-01-02T15:04:05Z"), r.Owner, r.ID)})
	}
	if cli == nil {
		return fs, nil
	}
	label := stack.LabelRun
	if o.RunID != "" {
		label += "=" + o.RunID
	}
	args := filters.NewArgs(filters.Arg("label", label))
	cs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: args})
	if err != nil {
		return fs, fmt.Errorf("list stack containers: %w", err)
	}
	sort.Slice(cs, func(a, b int) bool { return containerName(cs[a]) < containerName(cs[b]) })
	for _, c := range cs {
		name := containerName(c)
		if o.RunID == "" {
			fs = append(fs, Finding{"leftover-container", name, fmt.Sprintf("run %s, state %s: remove with `drill stack down`", c.Labels[stack.LabelRun], c.State)})
		}
		ins, err := cli.ContainerInspect(ctx, c.ID)
		if err != nil {
			fs = append(fs, Finding{"inspect-error", name, err.Error()})
			continue
		}
		switch {
		case ins.State.Paused:
			fs = append(fs, Finding{"container-paused", name, "paused: `docker unpause`"})
			continue
		case !ins.State.Running && !ins.State.Restarting:
			fs = append(fs, Finding{"container-stopped", name, fmt.Sprintf("state %s (exit %d)", ins.State.Status, ins.State.ExitCode)})
			continue
		}
		pid := ins.State.Pid
		if pid <= 0 {
			continue
		}
		fs = append(fs, auditNetns(name, pid)...)
		for _, m := range ins.Mounts {
			if m.RW {
				if ro, err := disk.MountReadOnly(pid, m.Destination); err == nil && ro {
					fs = append(fs, Finding{"readonly-mount", name, m.Destination + " is read-only inside the container but configured rw"})
				}
			}
			if m.Source != "" {
				if imm, err := disk.Immutable(m.Source); err == nil && len(imm) > 0 {
					fs = append(fs, Finding{"immutable-files", name, fmt.Sprintf("%d immutable paths under %s (e.g. %s): chattr -i", len(imm), m.Source, imm[0])})
				}
				if fl, err := disk.Fillers(m.Source); err == nil {
					for _, f := range fl {
						fs = append(fs, Finding{"filler", name, f})
					}
				}
			}
		}
		if stopped, err := gpu.StoppedIn(pid); err == nil {
			for _, p := range stopped {
				comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p))
				fs = append(fs, Finding{"stopped-process", name, fmt.Sprintf("host pid %d (%s) is stopped (state T): kill -CONT", p, strings.ReplaceAll(strings.TrimRight(string(comm), "\x00"), "\x00", " "))})
			}
		}
		if c.Labels[stack.LabelRole] == string(stack.RoleProxy) {
			fs = append(fs, auditToxics(name, ins)...)
		}
	}
	if o.RunID == "" {
		nets, err := cli.NetworkList(ctx, dnetwork.ListOptions{Filters: args})
		if err == nil {
			for _, n := range nets {
				fs = append(fs, Finding{"leftover-network", n.Name, "run " + n.Labels[stack.LabelRun]})
			}
		}
		vols, err := cli.VolumeList(ctx, volume.ListOptions{Filters: args})
		if err == nil {
			for _, v := range vols.Volumes {
				fs = append(fs, Finding{"leftover-volume", v.Name, "run " + v.Labels[stack.LabelRun]})
			}
		}
	}
	return fs, nil
}

func containerName(c container.Summary) string {
	if len(c.Names) > 0 {
		return strings.TrimPrefix(c.Names[0], "/")
	}
	return c.ID[:12]
}

// auditNetns reports non-default root qdiscs, down links and our nft tables.
func auditNetns(name string, pid int) []Finding {
	var fs []Finding
	path := chaos.NSPath(pid, "net")
	if chaos.CheckNetNS(path) != nil {
		return nil // host network mode: not ours to audit
	}
	if ts, err := network.Tables(path); err == nil {
		for _, t := range ts {
			fs = append(fs, Finding{"nftables", name, "table inet " + t})
		}
	}
	h, err := netlinkAt(path)
	if err != nil {
		return append(fs, Finding{"inspect-error", name, err.Error()})
	}
	defer h.close()
	links, err := h.h.LinkList()
	if err != nil {
		return fs
	}
	for _, l := range links {
		a := l.Attrs()
		if a.Name == "lo" {
			continue
		}
		if a.Flags&1 == 0 { // IFF_UP
			fs = append(fs, Finding{"link-down", name, a.Name + " is down"})
		}
		qs, err := h.h.QdiscList(l)
		if err != nil {
			continue
		}
		for _, q := range qs {
			qa := q.Attrs()
			if qa.Parent != netlink.HANDLE_ROOT {
				continue
			}
			switch q.Type() {
			case "noqueue", "pfifo_fast", "fq_codel", "mq":
				continue
			}
			fs = append(fs, Finding{"qdisc", name, fmt.Sprintf("%s root %s on %s", q.Type(), netlink.HandleStr(qa.Handle), a.Name)})
		}
	}
	return fs
}

func auditToxics(name string, ins container.InspectResponse) []Finding {
	var fs []Finding
	if ins.NetworkSettings == nil {
		return nil
	}
	bs := ins.NetworkSettings.Ports["8474/tcp"]
	if len(bs) == 0 {
		return nil
	}
	host := bs[0].HostIP
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	c := toxiproxy.NewClient(host + ":" + bs[0].HostPort)
	ps, err := c.Proxies()
	if err != nil {
		return []Finding{{"inspect-error", name, "toxiproxy: " + err.Error()}}
	}
	for pn, p := range ps {
		ts, err := p.Toxics()
		if err != nil {
			continue
		}
		for _, t := range ts {
			fs = append(fs, Finding{"toxic", name + "/" + pn, fmt.Sprintf("%s %s (%s)", t.Type, t.Name, t.Stream)})
		}
	}
	return fs
}

type nlHandle struct {
	h     *netlink.Handle
	close func()
}

func netlinkAt(path string) (nlHandle, error) {
	ns, err := nsFromPath(path)
	if err != nil {
		return nlHandle{}, err
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		ns.Close()
		return nlHandle{}, fmt.Errorf("netlink in %s: %w", filepath.Clean(path), err)
	}
	return nlHandle{h: h, close: func() { h.Close(); ns.Close() }}, nil
}
