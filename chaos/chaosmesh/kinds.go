// Package chaosmesh runs faults on a Kubernetes stack as Chaos Mesh
// objects (NetworkChaos, PodChaos, IOChaos of chaos-mesh.org/v1alpha1),
// built with Chaos Mesh's Go API types and created through the API server:
// the cluster's Chaos Mesh controller and daemons do the injecting.
//
// The kinds mirror the host kinds (network-delay, network-loss,
// network-partition, process-kill, container-kill) with the prefix
// "mesh-", plus the I/O faults IOChaos offers (mesh-io-latency,
// mesh-io-fault). They are kinds of their own, not a mechanism of the
// host kinds: those act through the network, process and volume
// capabilities of a stack on this host, which a Kubernetes stack does not
// offer, and a capability gate of "any of" would change plan validation,
// the plan schema, `drill list` and the dry run of every kind.
//
// Every object selects exactly the target pod (its namespace and name,
// mode one; a partition's peer likewise), carries the labels
// aiuptime.io/managed-by=aiuptime, aiuptime.io/run=<run> and
// aiuptime.io/record=<journal record>, and a spec.duration (param
// chaos_duration), so Chaos Mesh itself recovers the fault if the drill
// and its cleanup are both gone. The object's deletion is journaled
// (undo Undo: kubeconfig, context, namespace, kind, name, labels) before
// it is created; the revert deletes it and waits until it is gone; `drill
// cleanup` replays the record after a crash.
//
// In force: after creating the object the fault waits until Chaos Mesh's
// controller reports the experiment running and every selected container
// injected. A cluster with the CRDs but no controller (the kwok tier: no
// chaos-controller-manager pod, found by listing at once) never will; the
// param unenforced says what then happens: "fail" (default) errors the
// step, as a hypothesis judged against a fault that never acted would be
// a false result; "warn" keeps the object for the step and reports the
// mechanism as "chaos-mesh (created, not enforced: no Chaos Mesh
// controller)".
package chaosmesh

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kclient "k8s.io/client-go/kubernetes"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/param"
	"github.com/aiuptime/aiuptime/stack"
	"github.com/aiuptime/aiuptime/stack/kubernetes"
)

// Fault kind names.
const (
	KindNetworkDelay     = "mesh-network-delay"
	KindNetworkLoss      = "mesh-network-loss"
	KindNetworkPartition = "mesh-network-partition"
	KindPodKill          = "mesh-pod-kill"
	KindContainerKill    = "mesh-container-kill"
	KindIOLatency        = "mesh-io-latency"
	KindIOFault          = "mesh-io-fault"
)

// KubeStack is what the kinds need of a stack: the Kubernetes provider's
// namespace, connection, client and pod ownership proof.
type KubeStack interface {
	stack.Stack
	Namespace() string
	Conn() kubernetes.Conn
	Client() kclient.Interface
	OwnsPod(ctx context.Context, namespace, name string, role stack.Role) error
}

var _ KubeStack = (*kubernetes.Stack)(nil)

// commonParams are the params of every kind.
var commonParams = []param.Spec{
	{Name: "chaos_duration", Type: param.Duration, Default: DefaultChaosDuration.String(), Positive: true,
		Doc: "the object's spec.duration: Chaos Mesh recovers the fault after it even if the drill is gone"},
	{Name: "enforce_timeout", Type: param.Duration, Default: DefaultEnforceTimeout.String(), Positive: true,
		Doc: "how long to wait for Chaos Mesh to report the fault injected"},
	{Name: "unenforced", Type: param.Enum, Enum: []string{UnenforcedFail, UnenforcedWarn}, Default: UnenforcedFail,
		Doc: "when no Chaos Mesh controller puts the object in force: fail the step, or warn and go on (CRDs only, the kwok tier)"},
}

func commonOf(v param.Values) Common {
	return Common{ChaosDuration: v.Duration("chaos_duration"), EnforceTimeout: v.Duration("enforce_timeout"), Unenforced: v.String("unenforced")}
}

// register adds a kind: its params follow the kind's own, it acts through
// the stack's ownership proof (and needs a Kubernetes stack at build).
func register[S any](d chaos.Def[S]) {
	d.Params = append(d.Params, commonParams...)
	d.Needs, d.Mechanisms = []stack.Capability{stack.CapOwnership, stack.CapCluster}, []string{Mechanism}
	chaos.Register(d)
}

// faultOn resolves the service's pod (ownership re-proved) into a Fault.
func faultOn(ctx context.Context, env chaos.Env, svc stack.Service, kind, short string, c Common, build func(Meta, Target) runtime.Object) (*Fault, KubeStack, error) {
	ks, ok := env.Stack.(KubeStack)
	if !ok {
		return nil, nil, fmt.Errorf("%w: %s needs a kubernetes stack with Chaos Mesh, not a %s stack", chaos.ErrUnsupported, kind, env.Stack.Kind())
	}
	pod := PodRef{Namespace: ks.Namespace(), Name: svc.ContainerName}
	if err := ks.OwnsPod(ctx, pod.Namespace, pod.Name, svc.Role); err != nil {
		return nil, nil, err
	}
	f := &Fault{Kind: kind, Short: short, Target: Target{Service: svc.Name, Pod: pod}, Conn: ks.Conn(), Deps: env.Deps(), Common: c}
	f.Build = func(m Meta) runtime.Object { return build(m, f.Target) }
	return f, ks, nil
}

// containerOf is the named container of the pod, or its first.
func containerOf(ctx context.Context, ks KubeStack, pod PodRef, name string) (string, error) {
	p, err := ks.Client().CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("pod %s: %w", pod, err)
	}
	for _, c := range p.Spec.Containers {
		if name == "" || c.Name == name {
			return c.Name, nil
		}
	}
	if name == "" {
		return "", fmt.Errorf("pod %s has no container", pod)
	}
	return "", fmt.Errorf("params.container: pod %s has no container %q", pod, name)
}

// peerOf resolves and proves the peer service's pod.
func peerOf(ctx context.Context, ks KubeStack, peer string) (*PodRef, error) {
	ps, err := ks.Service(ctx, peer)
	if err != nil {
		return nil, fmt.Errorf("params.peer: %q: %w", peer, chaos.ErrNotInStack)
	}
	ref := PodRef{Namespace: ks.Namespace(), Name: ps.ContainerName}
	if err := ks.OwnsPod(ctx, ref.Namespace, ref.Name, ps.Role); err != nil {
		return nil, fmt.Errorf("params.peer: %w", err)
	}
	return &ref, nil
}

// ptr returns a pointer to v.
func ptr[T any](v T) *T { return &v }

// seconds is d in whole seconds, rounded up.
func seconds(d time.Duration) time.Duration { return (d + time.Second - 1).Truncate(time.Second) }
