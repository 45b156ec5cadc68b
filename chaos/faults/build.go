package faults

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"

	"github.com/docker/docker/client"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/chaos/container"
	"github.com/aiuptime/aiuptime/chaos/disk"
	"github.com/aiuptime/aiuptime/chaos/gpu"
	"github.com/aiuptime/aiuptime/chaos/network"
	"github.com/aiuptime/aiuptime/stack"
)

// Env is what Build needs besides the kind, params and target.
type Env struct {
	// Stack is the stack under test. Targets are re-read from it at
	// inject time and must belong to it (run label checked when it has a
	// run id). Required.
	Stack stack.Stack
	// Docker talks to the engine (container faults, docker exec of
	// nvidia-smi, ownership labels, peer addresses). Required for
	// container-backed services.
	Docker *client.Client
	// Caps is the kernel capability probe (network.ProbeOnce).
	Caps network.Capabilities
	// Log receives structured logs.
	Log *slog.Logger
	// DryRun makes Inject print exactly what would be done to Out and change nothing.
	DryRun bool
	// Out receives dry-run output (default os.Stdout).
	Out io.Writer
	// Journal records every injection before it is applied. Required
	// unless DryRun.
	Journal *chaos.Journal
	// SMIPath and SMIEnv run nvidia-smi on the host for services without a
	// container (tests against host processes).
	SMIPath string
	SMIEnv  []string
}

func (e Env) deps() chaos.Deps {
	d := chaos.Deps{Journal: e.Journal, Log: e.Log}
	if e.Stack != nil {
		d.RunID = e.Stack.RunID()
	}
	return d
}

// Build validates params and returns the fault for one target service. The
// fault re-reads the service from env.Stack when injected (fresh pid and
// container id), refuses services outside the stack under test, and then
// acts. With env.DryRun it is wrapped by chaos.DryRun. The result
// implements chaos.Mechanismer and chaos.Describer.
func Build(kind string, params map[string]any, target stack.Service, env Env) (chaos.Fault, error) {
	s, err := decode(kind, params)
	if err != nil {
		return nil, err
	}
	if target.Name == "" {
		return nil, errors.New("target: missing")
	}
	if env.Stack == nil {
		return nil, errors.New("faults: env.Stack is required")
	}
	if env.Journal == nil && !env.DryRun {
		return nil, errors.New("faults: env.Journal is required (faults are journaled before they are applied)")
	}
	f := &Lazy{spec: s, target: target, env: env}
	if env.DryRun {
		out := env.Out
		if out == nil {
			out = os.Stdout
		}
		return chaos.DryRun(f, out), nil
	}
	return f, nil
}

// BuildSelected resolves a selector against the stack and builds one fault per target.
func BuildSelected(ctx context.Context, kind string, params map[string]any, sel chaos.Selector, env Env) ([]chaos.Fault, error) {
	if err := Validate(kind, params); err != nil {
		return nil, err
	}
	if env.Stack == nil {
		return nil, errors.New("faults: env.Stack is required")
	}
	svcs, err := sel.Select(ctx, env.Stack)
	if err != nil {
		return nil, err
	}
	var out []chaos.Fault
	for _, sv := range svcs {
		f, err := Build(kind, params, sv, env)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// Lazy is a fault resolved at inject time. Concrete() returns the fault
// of the kind package after Inject or Describe.
type Lazy struct {
	spec   spec
	target stack.Service
	env    Env

	concrete chaos.Fault
}

var _ chaos.Fault = (*Lazy)(nil)

// Name is "<kind> on <service>".
func (f *Lazy) Name() string { return f.spec.kind + " on " + f.target.Name }

// Kind is the fault kind.
func (f *Lazy) Kind() string { return f.spec.kind }

// Target is the service name.
func (f *Lazy) Target() string { return f.target.Name }

// Concrete is the kind package's fault (nil before Inject or Describe).
func (f *Lazy) Concrete() chaos.Fault { return f.concrete }

// Mechanism says how the fault acts (or will act): netem, toxiproxy,
// nftables, tbf, linkdown, signal, docker, unlink, byteflip,
// bind-remount-ro, fallocate.
func (f *Lazy) Mechanism() string {
	if f.concrete != nil {
		return chaos.MechanismOf(f.concrete)
	}
	switch f.spec.kind {
	case NetworkDelay:
		m, _ := f.env.Caps.DelayMechanism(f.target.Proxy != nil)
		return m
	case NetworkLoss:
		if f.spec.loss.Peer != "" {
			return network.MechNftables
		}
		m, _ := f.env.Caps.LossMechanism()
		return m
	case NetworkBandwidth:
		return network.MechTBF
	case NetworkPartition:
		if f.spec.partition.Peer != "" {
			return network.MechNftables
		}
		return network.MechLinkDown
	case GPUKill, GPUHang:
		return gpu.MechSignal
	case DiskWipe:
		return disk.MechUnlink
	case DiskCorrupt:
		return disk.MechByteFlip
	case DiskReadOnly:
		return disk.MechRemount
	case DiskFull:
		return disk.MechFill
	}
	return container.MechDocker
}

// Inject resolves the target, checks it belongs to the stack, builds the
// concrete fault and injects it.
func (f *Lazy) Inject(ctx context.Context) (chaos.Revert, error) {
	c, err := f.resolve(ctx)
	if err != nil {
		return chaos.NoRevert, err
	}
	return c.Inject(ctx)
}

// Describe lists exactly what Inject would do, resolving the target now.
func (f *Lazy) Describe(ctx context.Context) ([]string, error) {
	c, err := f.resolve(ctx)
	if err != nil {
		return nil, err
	}
	head := fmt.Sprintf("target %s (container %.12s, pid %d, run %q)", f.target.Name, f.target.ContainerID, f.target.PID, f.env.deps().RunID)
	if d, ok := c.(chaos.Describer); ok {
		steps, err := d.Describe(ctx)
		return append([]string{head}, steps...), err
	}
	return []string{head, "inject " + c.Name()}, nil
}

func (f *Lazy) resolve(ctx context.Context) (chaos.Fault, error) {
	svc, err := f.env.Stack.Service(ctx, f.target.Name)
	if err != nil {
		if errors.Is(err, stack.ErrNotFound) {
			return nil, fmt.Errorf("target %q: %w", f.target.Name, chaos.ErrNotInStack)
		}
		return nil, fmt.Errorf("target %q: %w", f.target.Name, err)
	}
	f.target = svc
	if err := f.checkOwned(ctx, svc); err != nil {
		return nil, err
	}
	c, err := f.build(ctx, svc)
	if err != nil {
		return nil, err
	}
	f.concrete = c
	return c, nil
}

func (f *Lazy) checkOwned(ctx context.Context, svc stack.Service) error {
	runID := f.env.deps().RunID
	if runID == "" || svc.ContainerID == "" {
		return nil // attached stack: membership in Stack.Services is the check
	}
	if f.env.Docker == nil {
		return fmt.Errorf("target %s: no docker client to check its %s label", svc.Name, stack.LabelRun)
	}
	ins, err := f.env.Docker.ContainerInspect(ctx, svc.ContainerID)
	if err != nil {
		return fmt.Errorf("target %s: inspect: %w", svc.Name, err)
	}
	return container.CheckOwned(ins, runID)
}

func (f *Lazy) peerIPs(ctx context.Context, peer string) ([]net.IP, error) {
	if peer == "" {
		return nil, nil
	}
	ps, err := f.env.Stack.Service(ctx, peer)
	if err != nil {
		return nil, fmt.Errorf("params.peer: %q: %w", peer, err)
	}
	if ps.ContainerID == "" || f.env.Docker == nil {
		return nil, fmt.Errorf("params.peer: %q has no container to take addresses from: %w", peer, chaos.ErrUnsupported)
	}
	ins, err := f.env.Docker.ContainerInspect(ctx, ps.ContainerID)
	if err != nil {
		return nil, fmt.Errorf("params.peer: inspect %s: %w", peer, err)
	}
	var ips []net.IP
	if ins.NetworkSettings != nil {
		for _, ep := range ins.NetworkSettings.Networks {
			for _, a := range []string{ep.IPAddress, ep.GlobalIPv6Address} {
				if ip := net.ParseIP(a); ip != nil {
					ips = append(ips, ip)
				}
			}
		}
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("params.peer: %s has no address", peer)
	}
	return ips, nil
}

func (f *Lazy) build(ctx context.Context, svc stack.Service) (chaos.Fault, error) {
	d := f.env.deps()
	s := f.spec
	switch s.kind {
	case NetworkDelay, NetworkLoss, NetworkBandwidth, NetworkPartition:
		var t network.Target
		var err error
		if s.kind == NetworkDelay && !f.env.Caps.Netem {
			// Toxiproxy fallback: no namespace needed.
			t = network.Target{Service: svc.Name, ContainerID: svc.ContainerID, PID: svc.PID, Proxy: svc.Proxy}
		} else if t, err = network.TargetFromService(svc); err != nil {
			return nil, err
		}
		switch s.kind {
		case NetworkDelay:
			return &network.Delay{Spec: s.delay, Target: t, Deps: d, Caps: f.env.Caps}, nil
		case NetworkLoss:
			if t.PeerIPs, err = f.peerIPs(ctx, s.loss.Peer); err != nil {
				return nil, err
			}
			return &network.Loss{Spec: s.loss, Target: t, Deps: d, Caps: f.env.Caps}, nil
		case NetworkBandwidth:
			return &network.Bandwidth{Spec: s.bandwidth, Target: t, Deps: d}, nil
		default:
			if t.PeerIPs, err = f.peerIPs(ctx, s.partition.Peer); err != nil {
				return nil, err
			}
			return &network.Partition{Spec: s.partition, Target: t, Deps: d}, nil
		}
	case GPUKill, GPUHang:
		t := gpu.Target{Service: svc.Name, ContainerID: svc.ContainerID, PID: svc.PID}
		if svc.ContainerID != "" {
			if f.env.Docker == nil {
				return nil, fmt.Errorf("%s on %s: no docker client", s.kind, svc.Name)
			}
			t.Exec = gpu.DockerExec(f.env.Docker, svc.ContainerID)
		} else {
			t.PID = 0
			t.Exec = gpu.HostExec(f.env.SMIPath, f.env.SMIEnv)
		}
		if s.kind == GPUKill {
			return &gpu.Kill{Spec: gpu.KillSpec{Signal: s.signal}, Target: t, Deps: d}, nil
		}
		return &gpu.Hang{Target: t, Deps: d}, nil
	case DiskWipe, DiskCorrupt, DiskReadOnly, DiskFull:
		t, err := disk.TargetFromService(svc, s.disk.Volume)
		if err != nil {
			return nil, err
		}
		switch s.kind {
		case DiskWipe:
			return &disk.Wipe{Spec: s.disk, Target: t, Deps: d}, nil
		case DiskCorrupt:
			return &disk.Corrupt{Spec: s.disk, Target: t, Deps: d}, nil
		case DiskReadOnly:
			return &disk.ReadOnly{Spec: s.disk, Target: t, Deps: d}, nil
		default:
			return &disk.Full{Spec: s.disk, Target: t, Deps: d}, nil
		}
	default:
		if svc.ContainerID == "" {
			return nil, fmt.Errorf("%s on %s: no container: %w", s.kind, svc.Name, chaos.ErrUnsupported)
		}
		if f.env.Docker == nil {
			return nil, fmt.Errorf("%s on %s: no docker client", s.kind, svc.Name)
		}
		return &container.Fault{Kind: s.kind, Spec: container.Spec{Signal: s.signal, StopTimeout: s.timeout}, Service: svc.Name, ContainerID: svc.ContainerID, Docker: f.env.Docker, Deps: d}, nil
	}
}

// Attached is a stack.Stack over a fixed list of services (e.g. passed as
// JSON to a child process); Service re-reads ContainerID and PID from
// Docker by container name when it has a client.
type Attached struct {
	Run    string
	Svcs   []stack.Service
	Docker *client.Client
}

var _ stack.Stack = (*Attached)(nil)

// Kind is "attached".
func (a *Attached) Kind() string { return "attached" }

// RunID is the run label value.
func (a *Attached) RunID() string { return a.Run }

// Services re-reads every service.
func (a *Attached) Services(ctx context.Context) ([]stack.Service, error) {
	var out []stack.Service
	for _, s := range a.Svcs {
		sv, err := a.Service(ctx, s.Name)
		if err != nil {
			return nil, err
		}
		out = append(out, sv)
	}
	return out, nil
}

// Service re-reads one service.
func (a *Attached) Service(ctx context.Context, name string) (stack.Service, error) {
	for _, s := range a.Svcs {
		if s.Name != name {
			continue
		}
		if a.Docker != nil && (s.ContainerName != "" || s.ContainerID != "") {
			ref := s.ContainerName
			if ref == "" {
				ref = s.ContainerID
			}
			ins, err := a.Docker.ContainerInspect(ctx, strings.TrimPrefix(ref, "/"))
			if err == nil && ins.State != nil {
				s.ContainerID, s.PID = ins.ID, ins.State.Pid
			}
		}
		return s, nil
	}
	return stack.Service{}, fmt.Errorf("%q: %w", name, stack.ErrNotFound)
}

// APIKey is empty.
func (a *Attached) APIKey() string { return "" }

// ModelName is empty.
func (a *Attached) ModelName() string { return "" }

// Stop does nothing: an attached stack is not ours to remove.
func (a *Attached) Stop(context.Context) error { return nil }
