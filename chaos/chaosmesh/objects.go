package chaosmesh

import (
	"fmt"
	"strings"
	"time"

	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Labels every Chaos Mesh object the drill creates carries: doctor and
// cleanup find them by these, and an undo acts only on an object that
// still carries them.
const (
	// LabelManagedBy is set to ManagedBy.
	LabelManagedBy = "aiuptime.io/managed-by"
	// ManagedBy is LabelManagedBy's value.
	ManagedBy = "aiuptime"
	// LabelRun is the drill's run id.
	LabelRun = "aiuptime.io/run"
	// LabelRecord is the id of the journal record that undoes the object.
	LabelRecord = "aiuptime.io/record"
)

// Object kinds of the chaos-mesh.org/v1alpha1 API the drill creates.
const (
	NetworkChaos = "NetworkChaos"
	PodChaos     = "PodChaos"
	IOChaos      = "IOChaos"
)

// Resources maps each object kind the drill creates to its API resource.
var Resources = map[string]schema.GroupVersionResource{
	NetworkChaos: v1alpha1.SchemeGroupVersion.WithResource("networkchaos"),
	PodChaos:     v1alpha1.SchemeGroupVersion.WithResource("podchaos"),
	IOChaos:      v1alpha1.SchemeGroupVersion.WithResource("iochaos"),
}

// PodRef names one pod.
type PodRef struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

// String is namespace/name.
func (p PodRef) String() string { return p.Namespace + "/" + p.Name }

// Target is what one object acts on: exactly one pod (and for a partition
// exactly one peer pod), in the stack's namespace.
type Target struct {
	// Service is the stack's service name (model-0), for messages.
	Service string
	Pod     PodRef
	// Peer is the other side of a partition (nil: none).
	Peer *PodRef
	// Container is the container a container-kill or IOChaos acts in.
	Container string
}

// Meta is the identity of one object: its name, the run and the journal
// record, which become its labels.
type Meta struct {
	Name   string
	Run    string
	Record string
}

// ObjectName is the name of the object a journal record undoes: the
// kind's short name and the record id, lower-cased (a DNS subdomain).
func ObjectName(kind, record string) string {
	return strings.ToLower("aiuptime-" + kind + "-" + record)
}

// Labels are the labels of an object of m.
func (m Meta) Labels() map[string]string {
	return map[string]string{LabelManagedBy: ManagedBy, LabelRun: labelValue(m.Run), LabelRecord: labelValue(m.Record)}
}

// labelValue makes v a valid label value ("none" for an empty run).
func labelValue(v string) string {
	if v == "" {
		return "none"
	}
	if len(validation.IsValidLabelValue(v)) == 0 {
		return v
	}
	var b strings.Builder
	for _, r := range v {
		if r < 0x80 && (r == '-' || r == '_' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	s := b.String()
	if len(s) > validation.LabelValueMaxLength {
		s = s[:validation.LabelValueMaxLength]
	}
	return strings.Trim(s, "-_.")
}

func (m Meta) object(namespace string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: m.Name, Namespace: namespace, Labels: m.Labels()}
}

// selectorOf selects exactly the pod: its namespace, its name, mode one.
func selectorOf(p PodRef) v1alpha1.PodSelector {
	return v1alpha1.PodSelector{
		Selector: v1alpha1.PodSelectorSpec{
			GenericSelectorSpec: v1alpha1.GenericSelectorSpec{Namespaces: []string{p.Namespace}},
			Pods:                map[string][]string{p.Namespace: {p.Name}},
		},
		Mode: v1alpha1.OneMode,
	}
}

// durationText is d as Chaos Mesh's duration string (Go's syntax).
func durationText(d time.Duration) *string {
	s := d.String()
	return &s
}

// percentText is a 0..1 fraction as Chaos Mesh's percent string ("12.5").
func percentText(f float64) string {
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.4f", f*100), "0"), ".")
}

// NewNetworkChaos is a NetworkChaos of action on exactly t's pod, with
// Chaos Mesh's own duration bound d; tc holds the delay or loss, and a
// partition cuts t's pod off t.Peer in both directions.
func NewNetworkChaos(m Meta, t Target, action v1alpha1.NetworkChaosAction, tc v1alpha1.TcParameter, d time.Duration) *v1alpha1.NetworkChaos {
	o := &v1alpha1.NetworkChaos{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.SchemeGroupVersion.String(), Kind: NetworkChaos},
		ObjectMeta: m.object(t.Pod.Namespace),
		Spec: v1alpha1.NetworkChaosSpec{
			PodSelector: selectorOf(t.Pod),
			Action:      action,
			Duration:    durationText(d),
			TcParameter: tc,
			Direction:   v1alpha1.To,
		},
	}
	if t.Peer != nil {
		peer := selectorOf(*t.Peer)
		o.Spec.Target, o.Spec.Direction = &peer, v1alpha1.Both
		o.Spec.PartitionBehavior = v1alpha1.DropPartitionBehavior
	}
	return o
}

// NewPodChaos is a PodChaos of action on exactly t's pod (its container
// t.Container for container-kill), with grace period grace for pod-kill.
func NewPodChaos(m Meta, t Target, action v1alpha1.PodChaosAction, grace time.Duration, d time.Duration) *v1alpha1.PodChaos {
	o := &v1alpha1.PodChaos{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.SchemeGroupVersion.String(), Kind: PodChaos},
		ObjectMeta: m.object(t.Pod.Namespace),
		Spec: v1alpha1.PodChaosSpec{
			ContainerSelector: v1alpha1.ContainerSelector{PodSelector: selectorOf(t.Pod)},
			Action:            action,
			Duration:          durationText(d),
			GracePeriod:       int64(grace.Seconds()),
		},
	}
	if action == v1alpha1.ContainerKillAction {
		o.Spec.ContainerNames = []string{t.Container}
	}
	return o
}

// IOSpec is the I/O fault of an IOChaos.
type IOSpec struct {
	// Action is latency or fault.
	Action v1alpha1.IOChaosType
	// Delay is the latency added to each matching call (latency).
	Delay time.Duration
	// Errno is returned by each matching call (fault).
	Errno uint32
	// VolumePath is the mount point in the container; Path the files
	// (a glob) under it ("" is every file under VolumePath).
	VolumePath string
	Path       string
	// Percent of matching calls hit, 1..100.
	Percent int
}

// NewIOChaos is an IOChaos on exactly t's pod and container t.Container.
func NewIOChaos(m Meta, t Target, s IOSpec, d time.Duration) *v1alpha1.IOChaos {
	o := &v1alpha1.IOChaos{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.SchemeGroupVersion.String(), Kind: IOChaos},
		ObjectMeta: m.object(t.Pod.Namespace),
		Spec: v1alpha1.IOChaosSpec{
			ContainerSelector: v1alpha1.ContainerSelector{PodSelector: selectorOf(t.Pod), ContainerNames: []string{t.Container}},
			Action:            s.Action,
			VolumePath:        s.VolumePath,
			Path:              s.Path,
			Percent:           s.Percent,
			Duration:          durationText(d),
		},
	}
	switch s.Action {
	case v1alpha1.IoLatency:
		o.Spec.Delay = s.Delay.String()
	case v1alpha1.IoFaults:
		o.Spec.Errno = s.Errno
	}
	return o
}

// kindOf is the object's kind (NetworkChaos, PodChaos, IOChaos).
func kindOf(o runtime.Object) string { return o.GetObjectKind().GroupVersionKind().Kind }
