package stack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
	"syscall"
	"time"
)

// Capability names an optional capability of a stack provider: an interface
// of this package that the provider's Stack implements. Faults, backups and
// rollouts find capabilities by type assertion and use nothing else; a plan
// whose fault needs a capability the stack lacks is refused at validation.
type Capability string

// Capabilities a provider may offer.
const (
	// CapLifecycle is Lifecycle: kill, stop, start, pause, restart and
	// remove a service.
	CapLifecycle Capability = "lifecycle"
	// CapExec is Execer: run a command inside a service.
	CapExec Capability = "exec"
	// CapProcesses is Processes: the processes inside a service's own PID
	// namespace, and signals to them.
	CapProcesses Capability = "processes"
	// CapNetwork is Networker: a service's network namespace, addresses
	// and fault proxy.
	CapNetwork Capability = "network"
	// CapVolumes is Volumes: a service's volume by purpose.
	CapVolumes Capability = "volumes"
	// CapOwnership is Owner: proof that a service belongs to this stack.
	CapOwnership Capability = "ownership"
	// CapLogs is Logger: a service's logs.
	CapLogs Capability = "logs"
	// CapReplace is Replacer: start, replace and remove model servers.
	CapReplace Capability = "replace"
	// CapImages is ImageChecker: whether an image exists where the stack runs.
	CapImages Capability = "images"
	// CapNodes is Noder: cordon, drain or lose the cluster node a service
	// runs on (nodes.go).
	CapNodes Capability = "nodes"
	// CapScale is Scaler: scale the workload a service belongs to.
	CapScale Capability = "scale"
	// CapRollout is a rolling update of the model servers: Replacer (one
	// service replaced at a time) or DeploymentRoller (their controller,
	// a Kubernetes Deployment, rolled).
	CapRollout Capability = "rollout"
	// CapCluster is Cluster: a stack on a Kubernetes cluster, whose API
	// can carry faults as objects (Chaos Mesh).
	CapCluster Capability = "cluster"
)

// Cluster is a provider whose services are pods of one namespace of a
// Kubernetes cluster.
type Cluster interface {
	// Namespace is the namespace of the stack's pods.
	Namespace() string
}

// capabilities is every capability in a fixed order, with its words and
// the interface a provider's Stack implements to offer it.
var capabilities = []struct {
	c    Capability
	desc string
	has  func(Stack) bool
}{
	{CapLifecycle, "service lifecycle (kill, stop, pause, restart)", offers[Lifecycle]},
	{CapExec, "exec in a service", offers[Execer]},
	{CapProcesses, "process signalling", offers[Processes]},
	{CapNetwork, "network namespaces", offers[Networker]},
	{CapVolumes, "volumes", offers[Volumes]},
	{CapOwnership, "ownership proof", offers[Owner]},
	{CapLogs, "service logs", offers[Logger]},
	{CapReplace, "replacing services", offers[Replacer]},
	{CapImages, "image checks", offers[ImageChecker]},
	{CapNodes, "cluster node operations (cordon, drain, node loss)", offers[Noder]},
	{CapScale, "workload scaling", offers[Scaler]},
	{CapRollout, "rolling updates", func(st Stack) bool { return offers[Replacer](st) || offers[DeploymentRoller](st) }},
	{CapCluster, "Kubernetes cluster objects", offers[Cluster]},
}

// DeploymentRoller is a provider whose services are pods of a controller
// that rolls them itself (a Kubernetes Deployment): a rolling update
// changes the controller, not each service (stack/kubernetes has the
// rollout itself).
type DeploymentRoller interface {
	// DeploymentOf names the Deployment that owns the service's pod.
	DeploymentOf(ctx context.Context, service string) (string, error)
}

// offers reports whether st implements T.
func offers[T any](st Stack) bool {
	_, ok := st.(T)
	return ok
}

// Describe says in words what a capability is, for messages such as
// "gpu-kill needs process signalling".
func (c Capability) Describe() string {
	for _, k := range capabilities {
		if k.c == c {
			return k.desc
		}
	}
	return string(c)
}

// AllCapabilities lists every capability, in a fixed order.
func AllCapabilities() []Capability {
	out := make([]Capability, len(capabilities))
	for i, k := range capabilities {
		out[i] = k.c
	}
	return out
}

// Has reports whether st offers capability c.
func Has(st Stack, c Capability) bool {
	for _, k := range capabilities {
		if k.c == c {
			return k.has(st)
		}
	}
	return false
}

// CapabilitiesOf lists the capabilities st offers.
func CapabilitiesOf(st Stack) []Capability {
	var out []Capability
	for _, c := range AllCapabilities() {
		if Has(st, c) {
			out = append(out, c)
		}
	}
	return out
}

// Missing returns the capabilities of need that have is without.
func Missing(need, have []Capability) []Capability {
	var out []Capability
	for _, n := range need {
		found := false
		for _, h := range have {
			found = found || h == n
		}
		if !found {
			out = append(out, n)
		}
	}
	return out
}

// ErrNotOwned means a service cannot be proved to belong to the stack under
// test; nothing is done to it.
var ErrNotOwned = errors.New("not proven to belong to the stack under test")

// Owner is a provider that can prove a service belongs to this stack run
// (a run label, the attached compose project or label selector) before
// anything is done to it.
type Owner interface {
	// Owns returns nil when the service's container or pod provably belongs
	// to the stack, else an error wrapping ErrNotOwned.
	Owns(ctx context.Context, service string) error
}

// Op is a lifecycle operation.
type Op string

// Lifecycle operations.
const (
	OpKill    Op = "kill"
	OpStop    Op = "stop"
	OpStart   Op = "start"
	OpPause   Op = "pause"
	OpUnpause Op = "unpause"
	OpRestart Op = "restart"
	OpRemove  Op = "remove"
)

// Action is one lifecycle operation with its options.
type Action struct {
	Op Op
	// Signal is the signal of OpKill (default SIGKILL).
	Signal syscall.Signal
	// Timeout is the grace period of OpStop and OpRestart before SIGKILL.
	Timeout time.Duration
}

// RunState is a service's container or pod state.
type RunState struct {
	Running    bool   `json:"running"`
	Paused     bool   `json:"paused"`
	Restarting bool   `json:"restarting"`
	Status     string `json:"status"`
	ExitCode   int    `json:"exit_code"`
}

// Undo is how a later process brings a service back after a lifecycle
// operation, without the stack object: the name of an undo function
// registered with RegisterUndo by the provider, and its JSON state. Faults
// journal it before they act, so `drill cleanup` can replay it after a crash.
type Undo struct {
	Func  string          `json:"func"`
	State json.RawMessage `json:"state"`
	// Sealed says State holds secrets (a container's environment and
	// command line): the journal keeps it encrypted.
	Sealed bool `json:"sealed,omitempty"`
}

// Lifecycle is a provider that can act on a service's container or pod.
type Lifecycle interface {
	// Act performs a on the service.
	Act(ctx context.Context, service string, a Action) error
	// RunState reports the service's container or pod state.
	RunState(ctx context.Context, service string) (RunState, error)
	// UndoOf returns, before a is performed, how to bring the service back
	// to running afterwards (for the revert journal).
	UndoOf(ctx context.Context, service string, a Action) (Undo, error)
}

// Execer is a provider that can run a command inside a service.
type Execer interface {
	// Exec runs argv inside the service and returns its stdout; a non-zero
	// exit status is an error carrying stderr.
	Exec(ctx context.Context, service string, argv []string) ([]byte, error)
}

// Process is a process inside a service's PID namespace.
type Process struct {
	// PID is the pid inside the service's namespace.
	PID int `json:"pid"`
	// HostPID is the pid where the harness runs (0 when the process is
	// only reachable through the provider).
	HostPID int `json:"host_pid,omitempty"`
	// Start is the start time in clock ticks: with HostPID it tells the
	// process from a recycled pid.
	Start   uint64 `json:"start,omitempty"`
	Cmdline string `json:"cmdline"`
	// State is the one-letter state (R, S, T, Z, ...).
	State string `json:"state"`
}

// Processes is a provider that sees the processes of a service inside the
// service's own PID namespace (never the host's) and can signal them.
type Processes interface {
	// Processes lists the processes of the service's PID namespace.
	Processes(ctx context.Context, service string) ([]Process, error)
	// Signal sends sig to p if it is still the same process and still in
	// the service's namespace; a process that is gone is no error.
	Signal(ctx context.Context, service string, p Process, sig syscall.Signal) error
	// SignalUndo returns how a later process sends sig to ps (for a revert
	// journal: SIGCONT after SIGSTOP).
	SignalUndo(ctx context.Context, service string, ps []Process, sig syscall.Signal) (Undo, error)
}

// NetNS is a network namespace on this host.
type NetNS struct {
	// Path is the namespace file, e.g. /proc/PID/ns/net.
	Path string `json:"path"`
	// PID is a process inside the namespace (0 for a persistent path) and
	// PIDStart its start time, to tell a recycled pid.
	PID      int    `json:"pid,omitempty"`
	PIDStart uint64 `json:"pid_start,omitempty"`
}

// Networker is a provider that can reach a service's network: its network
// namespace on this host, its addresses, and the fault proxy in front of it.
type Networker interface {
	// NetNS returns the service's network namespace (ErrUnsupported when
	// it has none on this host).
	NetNS(ctx context.Context, service string) (NetNS, error)
	// Addrs returns the service's addresses on the stack's networks.
	Addrs(ctx context.Context, service string) ([]net.IP, error)
	// FaultProxy returns the Toxiproxy proxy in front of the service (nil
	// when there is none).
	FaultProxy(ctx context.Context, service string) (*Proxy, error)
}

// Volumes is a provider that can hand out a service's volume by purpose.
type Volumes interface {
	// Volume returns the service's volume with the purpose (VolumeModels,
	// VolumeData, VolumeConfig), mounted in its container under the
	// declared path; ErrNotFound wraps a service without one.
	Volume(ctx context.Context, service, purpose string) (Volume, error)
}

// Logger is a provider that can read a service's logs.
type Logger interface {
	// Logs returns the last lines of the service's output.
	Logs(ctx context.Context, service string, lines int) (string, error)
}

// ImageChecker is a provider that can tell whether an image exists where
// the stack runs (so a rollout to a missing image is refused untouched).
type ImageChecker interface {
	ImageExists(ctx context.Context, image string) (bool, error)
}

// ModelKeyer is a stack whose model servers require an API key of their own.
type ModelKeyer interface {
	// ModelAPIKey is the key the model servers require (a secret).
	ModelAPIKey() string
}

// ModelAPIKey returns st's model-server key, "" when it has none.
func ModelAPIKey(st Stack) string {
	if k, ok := st.(ModelKeyer); ok {
		return k.ModelAPIKey()
	}
	return ""
}

// Shape is what is known of a stack before it runs: its provider kind, the
// services it will have (empty when only attaching tells) and the
// capabilities its provider offers. Plans are validated against it.
type Shape struct {
	Kind         string         `json:"kind"`
	Services     []ShapeService `json:"services,omitempty"`
	Capabilities []Capability   `json:"capabilities"`
	// Ops are the lifecycle operations the provider can perform, when it
	// cannot perform them all (OpLister); empty means every one.
	Ops []Op `json:"ops,omitempty"`
}

// ShapeService is a service a stack will have.
type ShapeService struct {
	Name string `json:"name"`
	Role Role   `json:"role"`
}

// Has reports whether the shape offers c.
func (s Shape) Has(c Capability) bool { return len(Missing([]Capability{c}, s.Capabilities)) == 0 }

// Service returns the named service of the shape.
func (s Shape) Service(name string) (ShapeService, bool) {
	for _, sv := range s.Services {
		if sv.Name == name {
			return sv, true
		}
	}
	return ShapeService{}, false
}

// Names lists the shape's service names.
func (s Shape) Names() []string {
	out := make([]string, len(s.Services))
	for i, sv := range s.Services {
		out[i] = sv.Name
	}
	return out
}

// MissingText says which capabilities a kind needs that the shape lacks,
// e.g. "gpu-kill needs process signalling; stack kind endpoints has none".
func (s Shape) MissingText(what string, need []Capability) string {
	miss := Missing(need, s.Capabilities)
	if len(miss) == 0 {
		return ""
	}
	words := make([]string, len(miss))
	for i, c := range miss {
		words[i] = c.Describe()
	}
	return fmt.Sprintf("%s needs %s; stack kind %s has none", what, strings.Join(words, " and "), s.Kind)
}

// ActionDescriber is a Lifecycle provider that says in its own words what a
// lifecycle operation does to a service and how it is undone, for the dry
// run (a pod is deleted, not a container stopped).
type ActionDescriber interface {
	DescribeAction(service string, a Action) []string
}

// OpLister is a Lifecycle provider that performs only some operations
// (a Kubernetes pod can be deleted, not paused): a fault needing another is
// refused at validation, not when it runs.
type OpLister interface {
	Ops() []Op
}

// MissingOps says, in a sentence, which of need the shape's provider cannot
// perform ("" when it performs them all, or lists no operations).
func (s Shape) MissingOps(what string, need []Op) string {
	if len(s.Ops) == 0 {
		return ""
	}
	var miss []string
	for _, n := range need {
		found := false
		for _, o := range s.Ops {
			found = found || o == n
		}
		if !found {
			miss = append(miss, string(n))
		}
	}
	if len(miss) == 0 {
		return ""
	}
	have := make([]string, len(s.Ops))
	for i, o := range s.Ops {
		have[i] = string(o)
	}
	return fmt.Sprintf("%s needs the lifecycle operation %s; stack kind %s can only %s", what,
		strings.Join(miss, " and "), s.Kind, strings.Join(have, ", "))
}

// UndoFunc brings a service back from journaled state, in any process.
// sc says what the record may act on; when sc.Verify is set (a replay) the
// function proves it before acting (RegisterUndoState does so).
type UndoFunc func(ctx context.Context, sc Scope, state json.RawMessage) error

var undos = map[string]UndoFunc{}

// RegisterUndo makes fn available under name to RunUndo; providers call it
// from init. Registering a name twice panics.
func RegisterUndo(name string, fn UndoFunc) {
	if _, dup := undos[name]; dup {
		panic("stack: undo registered twice: " + name)
	}
	undos[name] = fn
}

// LookupUndo returns the undo function registered under name.
func LookupUndo(name string) (UndoFunc, bool) {
	fn, ok := undos[name]
	return fn, ok
}

// UndoNames lists the registered undo functions.
func UndoNames() []string {
	out := make([]string, 0, len(undos))
	for n := range undos {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Latency mechanisms a stack can offer for network-delay faults.
const (
	MechanismNetem     = "netem"
	MechanismToxiproxy = "toxiproxy"
	MechanismNone      = "none"
)

// Setup is how the provider set the stack up for this run: whether a fault
// proxy sits in front of the model servers, whether the gateway's data
// volume is size-limited, what GPU the services see. Reports show it under
// `capabilities`.
type Setup struct {
	// ProxyMode is the requested proxy mode: auto, always or never.
	ProxyMode string `json:"proxy_mode,omitempty"`
	// Proxy reports whether a Toxiproxy sits between the gateway and each
	// model server.
	Proxy bool `json:"proxy"`
	// LatencyMechanism is how latency faults are applied:
	// MechanismNetem, MechanismToxiproxy or MechanismNone.
	LatencyMechanism string `json:"latency_mechanism"`
	// DiskFull reports whether the gateway data volume is size-limited, so
	// a disk-full fault can reach ENOSPC.
	DiskFull bool `json:"disk_full"`
	// DiskFullDetail explains DiskFull (the size, or why it is unsupported).
	DiskFullDetail string `json:"disk_full_detail,omitempty"`
	// GPU says what the services' GPUs are ("" when unknown), e.g.
	// "simulated (fixture nvidia-smi shim)".
	GPU string `json:"gpu,omitempty"`
}

// SetupReporter is a provider that reports its Setup.
type SetupReporter interface {
	Setup() Setup
}

// Unsupported returns an error wrapping ErrUnsupported that says which
// operation a kind of stack cannot do, e.g.
// "gpu-kill on model-0: unsupported on an endpoints stack".
func Unsupported(kind, what string) error {
	article := "a"
	if kind != "" && strings.ContainsRune("aeiou", rune(kind[0])) {
		article = "an"
	}
	return &unsupportedError{msg: fmt.Sprintf("%s: unsupported on %s %s stack", what, article, kind)}
}

type unsupportedError struct{ msg string }

func (e *unsupportedError) Error() string { return e.msg }
func (e *unsupportedError) Unwrap() error { return ErrUnsupported }
