package kubernetes

import (
	"context"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aiuptime/aiuptime/internal/procfs"
	"github.com/aiuptime/aiuptime/stack"
)

// CapabilitiesOnNode are the capabilities of a NodeStack: Capabilities,
// and processes and network namespaces of the pods bound to the harness's
// node. A stack file's shape may claim them only when it says the harness
// runs on the node.
var CapabilitiesOnNode = append(slices.Clone(Capabilities), stack.CapProcesses, stack.CapNetwork)

// NodeStack is the stack seen from one of its nodes: the harness runs on
// the node, in its PID namespace, so the node's container processes are
// in this host's /proc. It adds Processes and Networker for pods bound to
// that node; for a pod on another node they return an error wrapping
// stack.ErrUnsupported that says so.
//
// A container's processes are found by its container ID (the pod status's
// containerID, "containerd://ID") in /proc/PID/cgroup; they are listed
// and signalled inside the container's own PID namespace (never the
// host's: a hostPID pod is refused), and its network namespace is
// /proc/PID/ns/net (a hostNetwork pod is refused).
type NodeStack struct {
	*Stack
	node string
	proc string // /proc
}

var (
	_ stack.Processes = (*NodeStack)(nil)
	_ stack.Networker = (*NodeStack)(nil)
)

// WithOnNode says the harness runs on node, one of the stack's nodes ("":
// detect it, see OnNode): Attach then returns a NodeStack, which adds
// processes and network namespaces of the pods bound to that node.
func WithOnNode(node string) Option {
	return func(o *options) error { o.onNode, o.node = true, node; return nil }
}

// Attach opens the stack (Open) and, given WithOnNode, returns it as seen
// from its node (OnNode); else the Stack itself. A stack file's shape
// claims CapabilitiesOnNode exactly when it passes WithOnNode.
func Attach(ctx context.Context, opts ...Option) (stack.Stack, error) {
	s, err := Open(ctx, opts...)
	if err != nil {
		return nil, err
	}
	if !s.o.onNode {
		return s, nil
	}
	ns, err := s.OnNode(ctx, s.o.node)
	if err != nil {
		return nil, err
	}
	return ns, nil
}

// OnNode returns the stack seen from node, the node the harness runs on;
// "" detects it: the node named as this host, or the one whose
// InternalIP is an address of this host.
func (s *Stack) OnNode(ctx context.Context, node string) (*NodeStack, error) {
	if node == "" {
		var err error
		if node, err = s.detectNode(ctx); err != nil {
			return nil, err
		}
	} else if _, err := s.cli.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{}); err != nil {
		return nil, fmt.Errorf("kubernetes stack: node %s: %w", node, err)
	}
	s.log.Info("kubernetes stack on node", "node", node)
	return &NodeStack{Stack: s, node: node, proc: "/proc"}, nil
}

// Node is the node the harness runs on.
func (n *NodeStack) Node() string { return n.node }

func (s *Stack) detectNode(ctx context.Context) (string, error) {
	host, _ := os.Hostname()
	local := map[string]bool{}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok {
				local[ipn.IP.String()] = true
			}
		}
	}
	nl, err := s.cli.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", fmt.Errorf("kubernetes stack: list nodes: %w", err)
	}
	var found []string
	for _, n := range nl.Items {
		if n.Annotations[kwokNodeKey] == kwokNodeValue {
			continue // simulated: no processes anywhere
		}
		match := n.Name == host
		for _, a := range n.Status.Addresses {
			match = match || (a.Type == corev1.NodeInternalIP && local[a.Address] && !net.ParseIP(a.Address).IsLoopback())
		}
		if match {
			found = append(found, n.Name)
		}
	}
	if len(found) != 1 {
		return "", fmt.Errorf("kubernetes stack: which node is this host (%s)? nodes matching its name or addresses: %v: %w",
			host, found, stack.ErrUnsupported)
	}
	return found[0], nil
}

// containerPID returns a host pid inside the first container of the
// service's pod, which must run on the harness's node.
func (n *NodeStack) containerPID(ctx context.Context, service string) (int, corev1.Pod, error) {
	svc, pod, err := n.lookup(ctx, service)
	if err != nil {
		return 0, pod, err
	}
	if err := n.OwnsPod(ctx, pod.Namespace, pod.Name, svc.Role); err != nil {
		return 0, pod, err
	}
	ref := pod.Namespace + "/" + pod.Name
	if pod.Spec.NodeName != n.node {
		return 0, pod, stack.Unsupported(Kind, fmt.Sprintf("%s: pod %s runs on node %q, the harness on node %q: its processes are out of reach", service, ref, pod.Spec.NodeName, n.node))
	}
	if pod.Spec.HostPID {
		return 0, pod, fmt.Errorf("%s: pod %s shares the host's PID namespace: %w", service, ref, procfs.ErrHostNamespace)
	}
	id := containerID(&pod)
	if id == "" {
		return 0, pod, fmt.Errorf("%s: pod %s: its container is not running", service, ref)
	}
	pid, err := n.findByCgroup(id)
	if err != nil {
		return 0, pod, fmt.Errorf("%s: pod %s: %w", service, ref, err)
	}
	return pid, pod, nil
}

// containerID is the runtime's id of the pod's first container ("" when
// it runs none).
func containerID(p *corev1.Pod) string {
	if len(p.Spec.Containers) == 0 {
		return ""
	}
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Name == p.Spec.Containers[0].Name && cs.State.Running != nil {
			if _, id, ok := strings.Cut(cs.ContainerID, "://"); ok && len(id) >= 12 {
				return id
			}
		}
	}
	return ""
}

// findByCgroup returns the lowest host pid whose cgroup path names the
// container id.
func (n *NodeStack) findByCgroup(id string) (int, error) {
	ents, err := os.ReadDir(n.proc)
	if err != nil {
		return 0, err
	}
	best := 0
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("%s/%d/cgroup", n.proc, pid))
		if err != nil || !strings.Contains(string(b), id) {
			continue
		}
		if best == 0 || pid < best {
			best = pid
		}
	}
	if best == 0 {
		return 0, fmt.Errorf("no process of container %.12s in this host's %s (is the harness in the node's PID namespace?): %w", id, n.proc, stack.ErrUnsupported)
	}
	return best, nil
}

// namespace returns the service's container's PID namespace (never the
// host's) and the processes in it.
func (n *NodeStack) namespace(ctx context.Context, service string) (procfs.NSID, []procfs.Process, corev1.Pod, error) {
	pid, pod, err := n.containerPID(ctx, service)
	if err != nil {
		return procfs.NSID{}, nil, pod, err
	}
	ns, err := pidNamespace(pid)
	if err != nil {
		return ns, nil, pod, fmt.Errorf("%s: %w", service, err)
	}
	ps, err := procfs.InNamespace(pid)
	if err != nil {
		return ns, nil, pod, fmt.Errorf("%s: %w", service, err)
	}
	return ns, ps, pod, nil
}

func pidNamespace(pid int) (procfs.NSID, error) {
	path := procfs.NSPath(pid, "pid")
	if err := procfs.CheckNotHost(path, "pid"); err != nil {
		return procfs.NSID{}, err
	}
	return procfs.NamespaceOf(path)
}

// Processes implements stack.Processes.
func (n *NodeStack) Processes(ctx context.Context, service string) ([]stack.Process, error) {
	_, ps, _, err := n.namespace(ctx, service)
	if err != nil {
		return nil, err
	}
	out := make([]stack.Process, len(ps))
	for i, p := range ps {
		out[i] = stack.Process{PID: p.PID, HostPID: p.HostPID, Start: p.Start, Cmdline: p.Cmdline, State: p.State}
	}
	return out, nil
}

// NetNS implements stack.Networker: the network namespace of the pod's
// container (its sandbox's, shared by the pod's containers).
func (n *NodeStack) NetNS(ctx context.Context, service string) (stack.NetNS, error) {
	pid, _, err := n.containerPID(ctx, service)
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

// Addrs implements stack.Networker: the pod's IPs.
func (n *NodeStack) Addrs(ctx context.Context, service string) ([]net.IP, error) {
	_, pod, err := n.lookup(ctx, service)
	if err != nil {
		return nil, err
	}
	var ips []net.IP
	for _, a := range pod.Status.PodIPs {
		if ip := net.ParseIP(a.IP); ip != nil {
			ips = append(ips, ip)
		}
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("%s: pod %s/%s has no IP", service, pod.Namespace, pod.Name)
	}
	return ips, nil
}

// FaultProxy implements stack.Networker: a Kubernetes stack has no fault
// proxy in front of its pods.
func (n *NodeStack) FaultProxy(context.Context, string) (*stack.Proxy, error) { return nil, nil }
