// Package container injects container faults through the Docker API: kill
// (with a chosen signal), stop, pause, restart, and remove plus recreate.
// Every revert brings the container back to running: unpause, start, or
// recreate it from the inspected configuration (same name, labels, network
// aliases, mounts and published ports).
package container

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	dcontainer "github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/docker/go-connections/nat"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/stack"
)

// Mechanism of every container fault.
const MechDocker = "docker"

// Kinds handled here.
const (
	KindKill    = "container-kill"
	KindStop    = "container-stop"
	KindPause   = "container-pause"
	KindRestart = "container-restart"
	KindRemove  = "container-remove"
)

// DefaultStopTimeout is the grace period of stop and restart.
const DefaultStopTimeout = 5 * time.Second

// Spec is the params of container faults.
type Spec struct {
	// Signal for container-kill (default KILL).
	Signal string `json:"signal,omitempty"`
	// StopTimeout for stop and restart (default DefaultStopTimeout).
	StopTimeout time.Duration `json:"stop_timeout,omitempty"`
}

// NewClient returns a Docker client from the environment with API version negotiation.
func NewClient() (*client.Client, error) {
	c, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	return c, nil
}

// Fault is one container fault of Kind on a container.
type Fault struct {
	Kind    string
	Spec    Spec
	Service string
	// ContainerID of the target.
	ContainerID string
	Docker      *client.Client
	Deps        chaos.Deps
}

var _ chaos.Fault = (*Fault)(nil)

// Name names the fault.
func (f *Fault) Name() string { return f.Kind + " on " + f.Service }

// Mechanism is docker.
func (f *Fault) Mechanism() string { return MechDocker }

// Describe lists what Inject would do.
func (f *Fault) Describe(context.Context) ([]string, error) {
	id := shortID(f.ContainerID)
	switch f.Kind {
	case KindKill:
		return []string{fmt.Sprintf("docker kill --signal %s %s (%s); revert: start it if it stays down", sigOr(f.Spec.Signal), id, f.Service)}, nil
	case KindStop:
		return []string{fmt.Sprintf("docker stop -t %d %s (%s); revert: docker start", int(f.stopTimeout().Seconds()), id, f.Service)}, nil
	case KindPause:
		return []string{fmt.Sprintf("docker pause %s (%s); revert: docker unpause", id, f.Service)}, nil
	case KindRestart:
		return []string{fmt.Sprintf("docker restart -t %d %s (%s)", int(f.stopTimeout().Seconds()), id, f.Service)}, nil
	case KindRemove:
		return []string{fmt.Sprintf("journal docker inspect %s, docker rm -f %s (%s); revert: recreate with the same name, labels, aliases, mounts, ports and start", id, id, f.Service)}, nil
	}
	return nil, fmt.Errorf("unknown container fault kind %q", f.Kind)
}

func (f *Fault) stopTimeout() time.Duration {
	if f.Spec.StopTimeout > 0 {
		return f.Spec.StopTimeout
	}
	return DefaultStopTimeout
}

func sigOr(s string) string {
	if s == "" {
		return "KILL"
	}
	return strings.ToUpper(strings.TrimPrefix(strings.ToUpper(s), "SIG"))
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// state is what the "container/ensure" reverter needs.
type state struct {
	ContainerID string `json:"container_id"`
	Name        string `json:"name"`
	// Recreate is set for container-remove: the inspected configuration.
	Recreate *recreateSpec `json:"recreate,omitempty"`
}

type recreateSpec struct {
	Config     *dcontainer.Config                   `json:"config"`
	HostConfig *dcontainer.HostConfig               `json:"host_config"`
	Networks   map[string]*network.EndpointSettings `json:"networks"`
}

// CheckOwned refuses a container that does not carry runID in its
// aiuptime.run label (when runID is set).
func CheckOwned(ins dcontainer.InspectResponse, runID string) error {
	if runID == "" {
		return nil
	}
	if ins.Config == nil || ins.Config.Labels[stack.LabelRun] != runID {
		return fmt.Errorf("container %s: label %s is not %q: %w", strings.TrimPrefix(ins.Name, "/"), stack.LabelRun, runID, chaos.ErrNotInStack)
	}
	return nil
}

// Inject applies the fault.
func (f *Fault) Inject(ctx context.Context) (chaos.Revert, error) {
	if f.Docker == nil {
		return chaos.NoRevert, errors.New("container fault: no docker client")
	}
	ins, err := f.Docker.ContainerInspect(ctx, f.ContainerID)
	if err != nil {
		return chaos.NoRevert, fmt.Errorf("%s: inspect %s: %w", f.Name(), shortID(f.ContainerID), err)
	}
	if err := CheckOwned(ins, f.Deps.RunID); err != nil {
		return chaos.NoRevert, err
	}
	st := state{ContainerID: ins.ID, Name: strings.TrimPrefix(ins.Name, "/")}
	if f.Kind == KindRemove {
		st.Recreate = recreateFrom(ins)
	}
	rec := chaos.Record{Kind: f.Kind, Target: f.Service, Reverter: "container/ensure", Mechanism: MechDocker}
	rev, _, err := chaos.Apply(ctx, f.Deps, rec, st, func(ctx context.Context) error {
		timeout := int(f.stopTimeout().Seconds())
		switch f.Kind {
		case KindKill:
			return f.Docker.ContainerKill(ctx, ins.ID, sigOr(f.Spec.Signal))
		case KindStop:
			return f.Docker.ContainerStop(ctx, ins.ID, dcontainer.StopOptions{Timeout: &timeout})
		case KindPause:
			return f.Docker.ContainerPause(ctx, ins.ID)
		case KindRestart:
			return f.Docker.ContainerRestart(ctx, ins.ID, dcontainer.StopOptions{Timeout: &timeout})
		case KindRemove:
			return f.Docker.ContainerRemove(ctx, ins.ID, dcontainer.RemoveOptions{Force: true})
		}
		return fmt.Errorf("unknown container fault kind %q", f.Kind)
	})
	if err != nil {
		err = fmt.Errorf("%s: %w", f.Name(), err)
	}
	return rev, err
}

// recreateFrom keeps what `docker run` would need to make the same container:
// published ports are pinned to the host ports they had.
func recreateFrom(ins dcontainer.InspectResponse) *recreateSpec {
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

func init() { chaos.RegisterReverter("container/ensure", revertEnsure) }

func revertEnsure(ctx context.Context, rec chaos.Record) error {
	var st state
	if err := json.Unmarshal(rec.State, &st); err != nil {
		return fmt.Errorf("decode container state: %w", err)
	}
	cli, err := NewClient()
	if err != nil {
		return err
	}
	defer cli.Close()
	return ensureRunning(ctx, cli, st)
}

// ensureRunning brings the container back: by id, else by name, else
// recreated from the journaled configuration.
func ensureRunning(ctx context.Context, cli *client.Client, st state) error {
	ins, err := cli.ContainerInspect(ctx, st.ContainerID)
	if errdefs.IsNotFound(err) && st.Name != "" {
		ins, err = cli.ContainerInspect(ctx, st.Name)
	}
	if errdefs.IsNotFound(err) {
		if st.Recreate == nil {
			return fmt.Errorf("container %s (%s) is gone and cannot be recreated", st.Name, shortID(st.ContainerID))
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
		if err := cli.ContainerStart(ctx, ins.ID, dcontainer.StartOptions{}); err != nil && !errdefs.IsConflict(err) {
			return fmt.Errorf("start %s: %w", st.Name, err)
		}
	}
	return nil
}

func recreate(ctx context.Context, cli *client.Client, st state) error {
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
	if err := cli.ContainerStart(ctx, created.ID, dcontainer.StartOptions{}); err != nil {
		return fmt.Errorf("recreate %s: start: %w", st.Name, err)
	}
	return nil
}
