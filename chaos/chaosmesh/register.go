package chaosmesh

import (
	"context"
	"time"

	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/param"
	"github.com/aiuptime/aiuptime/stack"
)

// DelaySpec is mesh-network-delay's params.
type DelaySpec struct {
	Delay, Jitter time.Duration
	Correlation   float64 // 0..1
	Common
}

// LossSpec is mesh-network-loss's params.
type LossSpec struct {
	Fraction, Correlation float64 // 0..1
	Common
}

// PartitionSpec is mesh-network-partition's params.
type PartitionSpec struct {
	Peer string
	Common
}

// PodKillSpec is mesh-pod-kill's params.
type PodKillSpec struct {
	Grace time.Duration
	Common
}

// ContainerKillSpec is mesh-container-kill's params.
type ContainerKillSpec struct {
	Container string
	Common
}

// IOFaultSpec is the params of mesh-io-latency and mesh-io-fault.
type IOFaultSpec struct {
	IO        IOSpec
	Container string
	Common
}

func init() {
	registerNetwork()
	registerPod()
	registerIO()
}

func registerNetwork() {
	register(chaos.Def[DelaySpec]{
		Name:        KindNetworkDelay,
		Description: "add latency to what the target pod sends: a Chaos Mesh NetworkChaos (delay) selecting exactly its pod",
		Params: []param.Spec{
			{Name: "delay", Type: param.Duration, Required: true, Positive: true, Doc: "added one-way latency, e.g. 200ms"},
			{Name: "jitter", Type: param.Duration, Default: "0s", Doc: "random variation of the delay"},
			{Name: "correlation", Type: param.Percent, Default: "0", Unit: "%", Doc: "correlation with the previous packet's delay"},
		},
		Decode: func(v param.Values) (DelaySpec, error) {
			return DelaySpec{Delay: v.Duration("delay"), Jitter: v.Duration("jitter"), Correlation: v.Percent("correlation").Fraction(), Common: commonOf(v)}, nil
		},
		Build: func(ctx context.Context, env chaos.Env, svc stack.Service, s DelaySpec) (chaos.Fault, error) {
			f, _, err := faultOn(ctx, env, svc, KindNetworkDelay, "delay", s.Common, func(m Meta, t Target) runtime.Object {
				tc := v1alpha1.TcParameter{Delay: &v1alpha1.DelaySpec{Latency: s.Delay.String(), Jitter: s.Jitter.String(), Correlation: percentText(s.Correlation)}}
				return NewNetworkChaos(m, t, v1alpha1.DelayAction, tc, s.ChaosDuration)
			})
			return f, err
		},
	})
	register(chaos.Def[LossSpec]{
		Name:        KindNetworkLoss,
		Description: "drop a share of the packets the target pod sends: a Chaos Mesh NetworkChaos (loss) selecting exactly its pod",
		Params: []param.Spec{
			{Name: "percent", Type: param.Percent, Required: true, Positive: true, Unit: "% of packets", Doc: "share of packets dropped, 0 < p <= 100"},
			{Name: "correlation", Type: param.Percent, Default: "0", Unit: "%", Doc: "correlation with the previous packet's fate"},
		},
		Decode: func(v param.Values) (LossSpec, error) {
			return LossSpec{Fraction: v.Percent("percent").Fraction(), Correlation: v.Percent("correlation").Fraction(), Common: commonOf(v)}, nil
		},
		Build: func(ctx context.Context, env chaos.Env, svc stack.Service, s LossSpec) (chaos.Fault, error) {
			f, _, err := faultOn(ctx, env, svc, KindNetworkLoss, "loss", s.Common, func(m Meta, t Target) runtime.Object {
				tc := v1alpha1.TcParameter{Loss: &v1alpha1.LossSpec{Loss: percentText(s.Fraction), Correlation: percentText(s.Correlation)}}
				return NewNetworkChaos(m, t, v1alpha1.LossAction, tc, s.ChaosDuration)
			})
			return f, err
		},
	})
	register(chaos.Def[PartitionSpec]{
		Name:        KindNetworkPartition,
		Description: "cut the target pod off one peer in both directions: a Chaos Mesh NetworkChaos (partition) selecting exactly the two pods",
		Params:      []param.Spec{{Name: "peer", Type: param.Service, Required: true, Doc: "the service on the other side of the cut"}},
		Decode: func(v param.Values) (PartitionSpec, error) {
			return PartitionSpec{Peer: v.String("peer"), Common: commonOf(v)}, nil
		},
		Build: func(ctx context.Context, env chaos.Env, svc stack.Service, s PartitionSpec) (chaos.Fault, error) {
			f, ks, err := faultOn(ctx, env, svc, KindNetworkPartition, "partition", s.Common, func(m Meta, t Target) runtime.Object {
				return NewNetworkChaos(m, t, v1alpha1.PartitionAction, v1alpha1.TcParameter{}, s.ChaosDuration)
			})
			if err != nil {
				return nil, err
			}
			f.Target.Peer, err = peerOf(ctx, ks, s.Peer)
			return f, err
		},
	})
}

func registerPod() {
	register(chaos.Def[PodKillSpec]{
		Name:        KindPodKill,
		Description: "kill the target pod: a Chaos Mesh PodChaos (pod-kill) selecting exactly its pod; its controller brings a new one",
		Params: []param.Spec{
			{Name: "grace_period", Type: param.Duration, Default: "0s", Doc: "the pod's grace period (whole seconds; 0 kills at once)"},
		},
		Decode: func(v param.Values) (PodKillSpec, error) {
			return PodKillSpec{Grace: seconds(v.Duration("grace_period")), Common: commonOf(v)}, nil
		},
		Build: func(ctx context.Context, env chaos.Env, svc stack.Service, s PodKillSpec) (chaos.Fault, error) {
			f, _, err := faultOn(ctx, env, svc, KindPodKill, "pod-kill", s.Common, func(m Meta, t Target) runtime.Object {
				return NewPodChaos(m, t, v1alpha1.PodKillAction, s.Grace, s.ChaosDuration)
			})
			return f, err
		},
	})
	register(chaos.Def[ContainerKillSpec]{
		Name:        KindContainerKill,
		Description: "kill one container of the target pod: a Chaos Mesh PodChaos (container-kill) selecting exactly its pod",
		Params:      []param.Spec{{Name: "container", Type: param.String, Doc: "the container (default: the pod's first)"}},
		Decode: func(v param.Values) (ContainerKillSpec, error) {
			return ContainerKillSpec{Container: v.String("container"), Common: commonOf(v)}, nil
		},
		Build: func(ctx context.Context, env chaos.Env, svc stack.Service, s ContainerKillSpec) (chaos.Fault, error) {
			f, ks, err := faultOn(ctx, env, svc, KindContainerKill, "container-kill", s.Common, func(m Meta, t Target) runtime.Object {
				return NewPodChaos(m, t, v1alpha1.ContainerKillAction, 0, s.ChaosDuration)
			})
			if err != nil {
				return nil, err
			}
			f.Target.Container, err = containerOf(ctx, ks, f.Target.Pod, s.Container)
			return f, err
		},
	})
}

var ioParams = []param.Spec{
	{Name: "volume_path", Type: param.String, Required: true, Doc: "the mount point in the container whose files are hit"},
	{Name: "path", Type: param.String, Doc: "the files hit, a glob (default: every file under volume_path)"},
	{Name: "percent", Type: param.Percent, Default: "100", Positive: true, Unit: "% of calls", Doc: "share of file calls hit (whole percent)"},
	{Name: "container", Type: param.String, Doc: "the container (default: the pod's first)"},
}

func registerIO() {
	register(chaos.Def[IOFaultSpec]{
		Name:        KindIOLatency,
		Description: "delay file calls under a volume of the target pod: a Chaos Mesh IOChaos (latency) selecting exactly its pod",
		Params:      append([]param.Spec{{Name: "delay", Type: param.Duration, Required: true, Positive: true, Doc: "latency added to each call, e.g. 100ms"}}, ioParams...),
		Decode: func(v param.Values) (IOFaultSpec, error) {
			s := ioSpecOf(v, v1alpha1.IoLatency)
			s.IO.Delay = v.Duration("delay")
			return s, nil
		},
		Build: buildIO(KindIOLatency, "io-latency"),
	})
	register(chaos.Def[IOFaultSpec]{
		Name:        KindIOFault,
		Description: "fail file calls under a volume of the target pod with an errno: a Chaos Mesh IOChaos (fault) selecting exactly its pod",
		Params:      append([]param.Spec{{Name: "errno", Type: param.Int, Default: "5", Positive: true, Doc: "the error returned (5 EIO, 28 ENOSPC, ...)"}}, ioParams...),
		Decode: func(v param.Values) (IOFaultSpec, error) {
			s := ioSpecOf(v, v1alpha1.IoFaults)
			if n := v.Int("errno"); n > 4095 {
				return s, &param.Error{Param: "errno", Msg: "want an errno, 1..4095"}
			}
			s.IO.Errno = uint32(v.Int("errno"))
			return s, nil
		},
		Build: buildIO(KindIOFault, "io-fault"),
	})
}

func ioSpecOf(v param.Values, action v1alpha1.IOChaosType) IOFaultSpec {
	pct := int(v.Percent("percent").Fraction()*100 + 0.5)
	return IOFaultSpec{IO: IOSpec{Action: action, VolumePath: v.String("volume_path"), Path: v.String("path"), Percent: max(pct, 1)},
		Container: v.String("container"), Common: commonOf(v)}
}

func buildIO(kind, short string) func(context.Context, chaos.Env, stack.Service, IOFaultSpec) (chaos.Fault, error) {
	return func(ctx context.Context, env chaos.Env, svc stack.Service, s IOFaultSpec) (chaos.Fault, error) {
		f, ks, err := faultOn(ctx, env, svc, kind, short, s.Common, func(m Meta, t Target) runtime.Object {
			return NewIOChaos(m, t, s.IO, s.ChaosDuration)
		})
		if err != nil {
			return nil, err
		}
		f.Target.Container, err = containerOf(ctx, ks, f.Target.Pod, s.Container)
		return f, err
	}
}
