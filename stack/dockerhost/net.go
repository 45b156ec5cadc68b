package dockerhost

import (
	"context"
	"fmt"
	"net"

	"github.com/aiuptime/aiuptime/internal/procfs"
	"github.com/aiuptime/aiuptime/stack"
)

// NetNS implements stack.Networker: the network namespace of the
// container's main process (a container on the host's network is refused).
func (h *Host) NetNS(ctx context.Context, service string) (stack.NetNS, error) {
	_, pid, err := h.running(ctx, service)
	if err != nil {
		return stack.NetNS{}, err
	}
	path := procfs.NSPath(pid, "net")
	if err := procfs.CheckNotHost(path, "net"); err != nil {
		return stack.NetNS{}, fmt.Errorf("%s: %w", service, err)
	}
	start, err := procfs.StartTime(pid)
	if err != nil {
		return stack.NetNS{}, fmt.Errorf("%s: pid %d: %w", service, pid, err)
	}
	return stack.NetNS{Path: path, PID: pid, PIDStart: start}, nil
}

// Addrs implements stack.Networker: the container's addresses on its networks.
func (h *Host) Addrs(ctx context.Context, service string) ([]net.IP, error) {
	ins, err := h.inspect(ctx, service)
	if err != nil {
		return nil, err
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
		return nil, fmt.Errorf("%s: container %s has no address", service, Name(ins))
	}
	return ips, nil
}

// FaultProxy implements stack.Networker.
func (h *Host) FaultProxy(ctx context.Context, service string) (*stack.Proxy, error) {
	if _, err := h.r.ContainerRef(ctx, service); err != nil {
		return nil, err
	}
	return h.r.Proxy(ctx, service)
}

// Volume implements stack.Volumes: the mount of the container at the
// purpose's declared path, with its source on this host.
func (h *Host) Volume(ctx context.Context, service, purpose string) (stack.Volume, error) {
	ins, err := h.inspect(ctx, service)
	if err != nil {
		return stack.Volume{}, err
	}
	dest := h.r.MountPath(ins, service, purpose)
	if dest == "" {
		return stack.Volume{}, fmt.Errorf("%s has no %s volume: %w", service, purpose, stack.ErrNotFound)
	}
	for _, m := range ins.Mounts {
		if m.Destination != dest {
			continue
		}
		v := stack.Volume{Purpose: purpose, Name: m.Name, HostPath: m.Source, MountPath: m.Destination, ReadOnly: !m.RW}
		if ins.State != nil && ins.State.Running && ins.State.Pid > 0 {
			if st, err := procfs.StartTime(ins.State.Pid); err == nil {
				v.PID, v.PIDStart = ins.State.Pid, st
			}
		}
		return v, nil
	}
	return stack.Volume{}, fmt.Errorf("%s: container %s mounts nothing at %s (its %s volume): %w", service, Name(ins), dest, purpose, stack.ErrNotFound)
}
