// Package dockerhost implements the stack capabilities of services that run
// as containers of the local Docker Engine: lifecycle operations, exec,
// processes in the container's own PID namespace, its network namespace and
// addresses, volumes by purpose, ownership proof and logs. The embedded
// stack (stack/containers) and attached deployments (stack/docker) both
// embed a *Host and differ only in their Resolver: how a service name maps
// to a container and what proves the container is theirs.
//
// It is the one place outside the providers that talks to Docker: faults,
// backups and rollouts see only the stack capability interfaces.
package dockerhost

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"

	"github.com/aiuptime/aiuptime/internal/procfs"
	"github.com/aiuptime/aiuptime/stack"
)

// ErrUnreachable wraps every "cannot talk to Docker" error.
var ErrUnreachable = errors.New("docker is not reachable")

// Connect returns a Docker API client for DOCKER_HOST (default
// unix:///var/run/docker.sock) and checks that the engine answers.
func Connect(ctx context.Context) (*client.Client, error) {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, unreachable(err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := cli.Ping(pctx); err != nil {
		cli.Close()
		return nil, unreachable(err)
	}
	return cli, nil
}

func unreachable(err error) error {
	host := os.Getenv("DOCKER_HOST")
	shown := fmt.Sprintf("DOCKER_HOST=%q", host)
	if host == "" {
		shown = "DOCKER_HOST is unset, so unix:///var/run/docker.sock"
	}
	return fmt.Errorf("%w (%s): a Docker Engine (20.10 or newer) this user may use is needed; start Docker or point DOCKER_HOST at it: %w",
		ErrUnreachable, shown, err)
}

// Resolver is what a provider knows about its services.
type Resolver interface {
	// ContainerRef returns the container (id or name) running the
	// service; an error wrapping stack.ErrNotFound for an unknown service.
	ContainerRef(ctx context.Context, service string) (string, error)
	// OwnsContainer returns nil when the inspected container belongs to
	// the stack (its run label, compose project or selector), else an
	// error wrapping stack.ErrNotOwned.
	OwnsContainer(ins container.InspectResponse) error
	// MountPath is where the service's volume of a purpose is mounted in
	// its (inspected) container ("" when it has none).
	MountPath(ins container.InspectResponse, service, purpose string) string
	// Proxy is the fault proxy in front of the service (nil when none).
	Proxy(ctx context.Context, service string) (*stack.Proxy, error)
}

// Host implements the capabilities for one provider's services.
type Host struct {
	cli client.APIClient
	r   Resolver
}

// New returns the capabilities of r's services on the engine cli talks to.
func New(cli client.APIClient, r Resolver) *Host { return &Host{cli: cli, r: r} }

// Client returns the Docker client (for the providers themselves).
func (h *Host) Client() client.APIClient { return h.cli }

// inspect resolves and inspects the service's container, and checks that it
// belongs to the stack.
func (h *Host) inspect(ctx context.Context, service string) (container.InspectResponse, error) {
	ref, err := h.r.ContainerRef(ctx, service)
	if err != nil {
		return container.InspectResponse{}, err
	}
	ins, err := h.cli.ContainerInspect(ctx, ref)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return ins, fmt.Errorf("%s: container %s is gone: %w", service, ref, stack.ErrNotFound)
		}
		return ins, fmt.Errorf("%s: inspect container %s: %w", service, ref, err)
	}
	if err := h.r.OwnsContainer(ins); err != nil {
		return ins, fmt.Errorf("%s: %w", service, err)
	}
	return ins, nil
}

// running returns the pid of the service's running container's main
// process, or an error saying it does not run.
func (h *Host) running(ctx context.Context, service string) (container.InspectResponse, int, error) {
	ins, err := h.inspect(ctx, service)
	if err != nil {
		return ins, 0, err
	}
	if ins.State == nil || !ins.State.Running || ins.State.Pid <= 0 {
		return ins, 0, fmt.Errorf("%s: container %s is not running", service, Name(ins))
	}
	return ins, ins.State.Pid, nil
}

// Owns implements stack.Owner.
func (h *Host) Owns(ctx context.Context, service string) error {
	_, err := h.inspect(ctx, service)
	return err
}

// Name is a container's name without the leading slash.
func Name(ins container.InspectResponse) string { return strings.TrimPrefix(ins.Name, "/") }

// ShortID is the first 12 hex digits of a container id.
func ShortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// CheckLabel returns nil when ins carries label key=value, else an error
// wrapping stack.ErrNotOwned: the ownership proof of both providers.
func CheckLabel(ins container.InspectResponse, key, value string) error {
	if ins.Config == nil || ins.Config.Labels[key] != value {
		return fmt.Errorf("container %s: label %s is not %q: %w", Name(ins), key, value, stack.ErrNotOwned)
	}
	return nil
}

// pidNamespace identifies the container's PID namespace, refusing the host's.
func pidNamespace(pid int) (procfs.NSID, error) {
	path := procfs.NSPath(pid, "pid")
	if err := procfs.CheckNotHost(path, "pid"); err != nil {
		return procfs.NSID{}, err
	}
	return procfs.NamespaceOf(path)
}

// Logs implements stack.Logger.
func (h *Host) Logs(ctx context.Context, service string, lines int) (string, error) {
	ins, err := h.inspect(ctx, service)
	if err != nil {
		return "", err
	}
	rc, err := h.cli.ContainerLogs(ctx, ins.ID, container.LogsOptions{ShowStdout: true, ShowStderr: true, Tail: fmt.Sprint(lines)})
	if err != nil {
		return "", fmt.Errorf("%s: logs: %w", service, err)
	}
	defer rc.Close()
	out, err := demux(rc)
	if err != nil {
		return "", fmt.Errorf("%s: logs: %w", service, err)
	}
	return out.stdout.String() + out.stderr.String(), nil
}

// ImageExists implements stack.ImageChecker.
func (h *Host) ImageExists(ctx context.Context, image string) (bool, error) {
	if _, err := h.cli.ImageInspect(ctx, image); err != nil {
		if errdefs.IsNotFound(err) {
			return false, nil
		}
		return false, fmt.Errorf("inspect image %s: %w", image, err)
	}
	return true, nil
}
