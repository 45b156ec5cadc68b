package dockerhost

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"

	"github.com/aiuptime/aiuptime/internal/procfs"
	"github.com/aiuptime/aiuptime/stack"
)

// Prover proves, from any process, what the containers carrying a set of
// labels own on this Docker host: the host sources of their mounts and the
// mountpoints of the volumes carrying the labels, the main process of each
// running one with its net, pid and mnt namespaces, their ids and names,
// and the host addresses they publish. Journal replay checks records
// against it (stack.Scope). It is registered as the default prover.
type Prover struct{}

func init() { stack.RegisterProver(Prover{}) }

// Owned implements stack.Prover.
func (Prover) Owned(ctx context.Context, labels map[string]string) (stack.Owned, error) {
	var o stack.Owned
	if len(labels) == 0 {
		return o, stack.Untrusted("no labels: every container would match")
	}
	cli, err := Connect(ctx)
	if err != nil {
		return o, err
	}
	defer cli.Close()
	return owned(ctx, cli, labels)
}

func labelFilter(labels map[string]string) filters.Args {
	f := filters.NewArgs()
	for k, v := range labels {
		f.Add("label", k+"="+v)
	}
	return f
}

func owned(ctx context.Context, cli client.APIClient, labels map[string]string) (stack.Owned, error) {
	var o stack.Owned
	list, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: labelFilter(labels)})
	if err != nil {
		return o, fmt.Errorf("list containers: %w", err)
	}
	for _, c := range list {
		ins, err := cli.ContainerInspect(ctx, c.ID)
		if err != nil {
			continue // removed while we looked
		}
		if ins.Config == nil || !carries(ins.Config.Labels, labels) {
			continue
		}
		addContainer(&o, ins)
	}
	vols, err := cli.VolumeList(ctx, volume.ListOptions{Filters: labelFilter(labels)})
	if err != nil {
		return o, fmt.Errorf("list volumes: %w", err)
	}
	for _, v := range vols.Volumes {
		if carries(v.Labels, labels) && v.Mountpoint != "" {
			o.Roots = append(o.Roots, filepath.Clean(v.Mountpoint))
		}
	}
	return o, nil
}

func carries(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// addContainer adds what one inspected container owns.
func addContainer(o *stack.Owned, ins container.InspectResponse) {
	o.Containers = append(o.Containers, ins.ID, Name(ins))
	for _, m := range ins.Mounts {
		if m.Source != "" && filepath.IsAbs(m.Source) && filepath.Clean(m.Source) != "/" {
			o.Roots = append(o.Roots, filepath.Clean(m.Source))
		}
	}
	if ins.State != nil && ins.State.Running && ins.State.Pid > 0 {
		if id, err := procfs.IdentOf(ins.State.Pid); err == nil {
			o.Processes = append(o.Processes, id)
			for _, kind := range []string{"net", "pid", "mnt"} {
				path := procfs.NSPath(id.PID, kind)
				if procfs.CheckNotHost(path, kind) != nil {
					continue // the host's own namespace is never the container's to lend
				}
				if ns, err := procfs.NamespaceOf(path); err == nil {
					o.Namespaces = append(o.Namespaces, ns)
				}
			}
		}
	}
	if ins.NetworkSettings != nil {
		for _, bs := range ins.NetworkSettings.Ports {
			for _, b := range bs {
				o.Endpoints = append(o.Endpoints, net.JoinHostPort(publishedHost(b.HostIP), b.HostPort))
			}
		}
	}
}

// publishedHost is where a published port is reached from this host.
func publishedHost(ip string) string {
	switch ip {
	case "", "0.0.0.0":
		return "127.0.0.1"
	case "::":
		return "::1"
	}
	return strings.Trim(ip, "[]")
}
