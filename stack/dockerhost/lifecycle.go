package dockerhost

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"syscall"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/docker/go-connections/nat"
	"golang.org/x/sys/unix"

	"github.com/aiuptime/aiuptime/stack"
)

// UndoEnsure is the undo function that brings a container back to running:
// unpause, start, or recreate it from its journaled configuration. The name
// is what older journals recorded, so they still replay.
const UndoEnsure = "container/ensure"

// ensureState is what UndoEnsure needs.
type ensureState struct {
	ContainerID string `json:"container_id"`
	Name        string `json:"name"`
	// Recreate is set before a remove: the inspected configuration.
	Recreate *recreateSpec `json:"recreate,omitempty"`
}

type recreateSpec struct {
	Config     *container.Config                    `json:"config"`
	HostConfig *container.HostConfig                `json:"host_config"`
	Networks   map[string]*network.EndpointSettings `json:"networks"`
}

func init() {
	stack.RegisterUndoState(UndoEnsure, func(ctx context.Context, _ stack.Scope, st ensureState) error {
		cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
		if err != nil {
			return unreachable(err)
		}
		defer cli.Close()
		return ensureRunning(ctx, cli, st)
	})
}

// Check implements stack.UndoChecker: the container, while it exists, is
// one of the scope's (by id or name); once removed, the configuration it
// is recreated from carries the scope's labels. Gone without a way back
// counts as undone.
func (st ensureState) Check(ctx context.Context, sc stack.Scope) error {
	if st.ContainerID == "" && st.Name == "" {
		return stack.Untrusted("container state names no container")
	}
	owned, err := sc.Owned(ctx)
	if err != nil {
		return err
	}
	for _, ref := range []string{st.ContainerID, st.Name} {
		for _, c := range owned.Containers {
			if ref != "" && c == ref {
				return nil
			}
		}
	}
	exists, err := containerExists(ctx, st)
	if err != nil {
		return err
	}
	switch {
	case exists:
		return stack.Untrusted("container %s (%s) does not carry the labels of the record's owner", st.Name, ShortID(st.ContainerID))
	case st.Recreate == nil:
		return stack.ErrGone
	case st.Recreate.Config == nil || st.Recreate.HostConfig == nil:
		return stack.Untrusted("container %s: recreate configuration is incomplete", st.Name)
	}
	return sc.CarriesLabels(st.Recreate.Config.Labels)
}

// containerExists reports whether the journaled container (by id, else
// name) exists.
func containerExists(ctx context.Context, st ensureState) (bool, error) {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return false, unreachable(err)
	}
	defer cli.Close()
	for _, ref := range []string{st.ContainerID, st.Name} {
		if ref == "" {
			continue
		}
		_, err := cli.ContainerInspect(ctx, ref)
		if err == nil {
			return true, nil
		}
		if !errdefs.IsNotFound(err) {
			return false, fmt.Errorf("inspect %s: %w", ref, err)
		}
	}
	return false, nil
}

// Act implements stack.Lifecycle.
func (h *Host) Act(ctx context.Context, service string, a stack.Action) error {
	ins, err := h.inspect(ctx, service)
	if err != nil {
		return err
	}
	timeout := int(a.Timeout.Seconds())
	stop := container.StopOptions{Timeout: &timeout}
	switch a.Op {
	case stack.OpKill:
		sig := a.Signal
		if sig == 0 {
			sig = unix.SIGKILL
		}
		err = h.cli.ContainerKill(ctx, ins.ID, strings.TrimPrefix(unix.SignalName(syscall.Signal(sig)), "SIG"))
	case stack.OpStop:
		err = h.cli.ContainerStop(ctx, ins.ID, stop)
	case stack.OpStart:
		err = h.cli.ContainerStart(ctx, ins.ID, container.StartOptions{})
	case stack.OpPause:
		err = h.cli.ContainerPause(ctx, ins.ID)
	case stack.OpUnpause:
		err = h.cli.ContainerUnpause(ctx, ins.ID)
	case stack.OpRestart:
		err = h.cli.ContainerRestart(ctx, ins.ID, stop)
	case stack.OpRemove:
		err = h.cli.ContainerRemove(ctx, ins.ID, container.RemoveOptions{Force: true})
	default:
		return fmt.Errorf("%s: unknown lifecycle operation %q", service, a.Op)
	}
	if err != nil {
		return fmt.Errorf("docker %s %s (%s): %w", a.Op, Name(ins), service, err)
	}
	return nil
}

// RunState implements stack.Lifecycle.
func (h *Host) RunState(ctx context.Context, service string) (stack.RunState, error) {
	ins, err := h.inspect(ctx, service)
	if err != nil {
		return stack.RunState{}, err
	}
	if ins.State == nil {
		return stack.RunState{}, fmt.Errorf("%s: container %s has no state", service, Name(ins))
	}
	s := ins.State
	return stack.RunState{Running: s.Running, Paused: s.Paused, Restarting: s.Restarting, Status: string(s.Status), ExitCode: s.ExitCode}, nil
}

// UndoOf implements stack.Lifecycle: whatever a did, the undo brings the
// container back to running (recreating it after a remove).
func (h *Host) UndoOf(ctx context.Context, service string, a stack.Action) (stack.Undo, error) {
	ins, err := h.inspect(ctx, service)
	if err != nil {
		return stack.Undo{}, err
	}
	st := ensureState{ContainerID: ins.ID, Name: Name(ins)}
	if a.Op == stack.OpRemove {
		st.Recreate = recreateFrom(ins)
	}
	b, err := json.Marshal(st)
	// The configuration holds the container's environment and command
	// line: the journal keeps it sealed.
	return stack.Undo{Func: UndoEnsure, State: b, Sealed: st.Recreate != nil}, err
}

// recreateFrom keeps what `docker run` would need to make the same container:
// published ports are pinned to the host ports they had.
func recreateFrom(ins container.InspectResponse) *recreateSpec {
	hc := *ins.HostConfig
	if ins.NetworkSettings != nil && len(ins.NetworkSettings.Ports) > 0 {
		pb := nat.PortMap{}
		for port, bs := range ins.NetworkSettings.Ports {
			pb[port] = append([]nat.PortBinding(nil), bs...)
		}
		hc.PortBindings = pb
	}
	nets := map[string]*network.EndpointSettings{}
	if ins.NetworkSettings != nil {
		for name, ep := range ins.NetworkSettings.Networks {
			var aliases []string
			for _, a := range ep.Aliases {
				if !strings.HasPrefix(ins.ID, a) { // docker adds the short id itself
					aliases = append(aliases, a)
				}
			}
			nets[name] = &network.EndpointSettings{Aliases: aliases}
		}
	}
	return &recreateSpec{Config: ins.Config, HostConfig: &hc, Networks: nets}
}

// ensureRunning brings the container back: by id, else by name, else
// recreated from the journaled configuration.
func ensureRunning(ctx context.Context, cli client.APIClient, st ensureState) error {
	ins, err := cli.ContainerInspect(ctx, st.ContainerID)
	if errdefs.IsNotFound(err) && st.Name != "" {
		ins, err = cli.ContainerInspect(ctx, st.Name)
	}
	if errdefs.IsNotFound(err) {
		if st.Recreate == nil {
			return nil // removed by someone else since: gone counts as reverted
		}
		return recreate(ctx, cli, st)
	}
	if err != nil {
		return fmt.Errorf("inspect %s: %w", st.Name, err)
	}
	switch {
	case ins.State.Paused:
		if err := cli.ContainerUnpause(ctx, ins.ID); err != nil && !errdefs.IsConflict(err) {
			return fmt.Errorf("unpause %s: %w", st.Name, err)
		}
	case ins.State.Running, ins.State.Restarting:
	default:
		if err := cli.ContainerStart(ctx, ins.ID, container.StartOptions{}); err != nil && !errdefs.IsConflict(err) {
			return fmt.Errorf("start %s: %w", st.Name, err)
		}
	}
	return nil
}

func recreate(ctx context.Context, cli client.APIClient, st ensureState) error {
	r := st.Recreate
	var first string
	for n := range r.Networks {
		if first == "" || n == string(r.HostConfig.NetworkMode) {
			first = n
		}
	}
	nc := &network.NetworkingConfig{}
	if first != "" {
		nc.EndpointsConfig = map[string]*network.EndpointSettings{first: r.Networks[first]}
	}
	created, err := cli.ContainerCreate(ctx, r.Config, r.HostConfig, nc, nil, st.Name)
	if err != nil {
		return fmt.Errorf("recreate %s: %w", st.Name, err)
	}
	for n, ep := range r.Networks {
		if n == first {
			continue
		}
		if err := cli.NetworkConnect(ctx, n, created.ID, ep); err != nil {
			return fmt.Errorf("recreate %s: connect %s: %w", st.Name, n, err)
		}
	}
	if err := cli.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		return fmt.Errorf("recreate %s: start: %w", st.Name, err)
	}
	return nil
}
