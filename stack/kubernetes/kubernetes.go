// Package kubernetes attaches to a deployment on a Kubernetes cluster: the
// pods that match each role's label selector (or a Deployment's selector)
// in one namespace are the stack's services. Like stack/docker it creates
// nothing and Stop only lets go of the client.
//
//	st, err := kubernetes.Open(ctx, kubernetes.WithKubeconfig(path), kubernetes.WithNamespace("aiuptime"),
//		kubernetes.WithRole(stack.RoleGateway, kubernetes.RoleSelector{Selector: "app=gateway"}),
//		kubernetes.WithRole(stack.RoleModel, kubernetes.RoleSelector{Deployment: "model"}),
//		kubernetes.WithGatewayURL("http://127.0.0.1:30400"))
//
// Ownership: the namespace must opt in with the label LabelDrill=enabled
// (as Chaos Mesh asks for chaos-mesh.org/inject=enabled), or Open refuses;
// a pod is the stack's only while it is in that namespace and matches its
// role's selector, re-read from the API server before anything is done to it.
//
// Capabilities: lifecycle (pod delete, Deployment scale-down; Ops lists
// which operations), ownership, logs, exec through the API server
// (exec.go), node operations (cordon, drain, node loss: node.go) and
// Deployment scaling (scale.go). Processes and network namespaces need the
// harness on the pod's node: OnNode returns a NodeStack that adds them
// (onnode.go), and a stack file claims them only when it says so.
// Rollouts: RollDeployment changes a role's Deployment and waits as
// `kubectl rollout status` does; UndoRollout does `kubectl rollout undo`
// (rollout.go). As a stack.Replacer (replace.go) it adds a model server
// as a one-replica Deployment of its own (a canary, a green twin) that no
// Deployment or Service selects, replaces a service by rolling its
// Deployment, and removes only what it added; SwitchService moves a
// Service's selector to other model pods and waits for its endpoints
// (switch.go, blue-green). What it adds and the selectors it replaces are
// journaled through the drill's stack.ChangeJournal.
package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	kclient "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/aiuptime/aiuptime/stack"
)

// Kind is what Stack.Kind returns.
const Kind = "kubernetes"

// LabelDrill is the namespace label that opts a namespace in to drills;
// its value must be LabelDrillEnabled. Without it Open refuses and nothing
// in the namespace is ever touched.
const (
	LabelDrill        = "aiuptime.io/drill"
	LabelDrillEnabled = "enabled"
)

// Default API ports and health paths by role, used when a pod declares no
// container port and no WithPort / WithHealthPath says otherwise: the
// stack package's, shared with the docker provider.
var (
	DefaultPorts       = stack.DefaultPorts
	DefaultHealthPaths = stack.DefaultHealthPaths
)

// Ops are the lifecycle operations the provider performs (see Act); the
// others (start, pause, unpause, remove) have no pod equivalent.
var Ops = []stack.Op{stack.OpKill, stack.OpStop, stack.OpRestart}

var (
	_ stack.Stack     = (*Stack)(nil)
	_ stack.Lifecycle = (*Stack)(nil)
	_ stack.Owner     = (*Stack)(nil)
	_ stack.OpLister  = (*Stack)(nil)

	_ stack.ActionDescriber = (*Stack)(nil)
)

// DescribeAction implements stack.ActionDescriber: what Act does to the
// service's pod and how the journaled undo brings it back (see Act).
func (s *Stack) DescribeAction(service string, a stack.Action) []string {
	journal := "journal how to bring " + service + " back (its Deployment's replica count)"
	switch a.Op {
	case stack.OpKill:
		return []string{journal, "delete the pod of " + service + " with grace 0; its Deployment brings a new pod; revert: wait until the Deployment's replicas are ready again"}
	case stack.OpRestart:
		return []string{journal, fmt.Sprintf("delete the pod of %s with grace %s; its Deployment brings a new pod; revert: wait until the Deployment's replicas are ready again", service, a.Timeout)}
	case stack.OpStop:
		return []string{journal, "scale the Deployment of " + service + " down by one, marking its pod the one to delete; revert: scale it back and wait until its replicas are ready"}
	}
	return []string{fmt.Sprintf("%s %s: not supported on kubernetes (it can only kill, stop, restart)", a.Op, service)}
}

// Ops implements stack.OpLister.
func (s *Stack) Ops() []stack.Op { return Ops }

// Capabilities are the stack capabilities the provider offers.
// Exec goes through the API server (exec.go); node operations, scaling
// and replacing services through it too (node.go, scale.go, replace.go). Processes and network
// namespaces need the harness on the pod's node: CapabilitiesOnNode.
var Capabilities = []stack.Capability{stack.CapLifecycle, stack.CapOwnership, stack.CapLogs, stack.CapRollout,
	stack.CapExec, stack.CapNodes, stack.CapScale, stack.CapCluster, stack.CapReplace}

// Errors callers branch on.
var (
	// ErrNotOptedIn means the namespace lacks LabelDrill=enabled.
	ErrNotOptedIn = errors.New("namespace does not opt in to drills")
)

// RoleSelector says which pods play a role: those matching Selector (a
// label selector, "app=gw,tier in (edge)"), or those matching the selector
// of the Deployment named Deployment. Exactly one is set.
type RoleSelector struct {
	Selector   string `json:"selector,omitempty"`
	Deployment string `json:"deployment,omitempty"`
}

// String is the selector in words.
func (r RoleSelector) String() string {
	if r.Deployment != "" {
		return "deployment " + r.Deployment
	}
	return "selector " + r.Selector
}

// Stack is a deployment attached in one namespace.
//
// Service names are <role>-<slot>, except that the first gateway is plain
// "gateway" as on the other providers (plans and the probe name it so).
// Pods of a Deployment have no stable identity, so slots are kept by the
// Stack: the first listing orders each role's pods by creation time, then
// name (oldest first: the order in which they came up, stable across
// listings, and the same for every reader of one cluster state); later a
// pod that is gone frees its slot and a new pod takes the lowest free slot.
// So the pod a Deployment brings after model-0 is deleted is model-0 again,
// and "model-0 back" means what a plan's author expects. Pods being deleted
// (a deletion timestamp) and pods that ended (Succeeded, Failed) play no
// role: their slot goes to their replacement.
type Stack struct {
	o    options
	cli  kclient.Interface
	cfg  *rest.Config // for exec (exec.go)
	log  *slog.Logger
	host string // the API server, for Identity

	mu      sync.Mutex
	slots   map[stack.Role][]types.UID            // "" marks a free slot
	journal stack.ChangeJournal                   // SetChangeJournal
	added   map[string]func() error               // added services' journal forgets (replace.go)
	orig    map[types.UID]*corev1.PodTemplateSpec // Deployments' templates before ReplaceService
}

var (
	_ stack.Stack      = (*Stack)(nil)
	_ stack.Lifecycle  = (*Stack)(nil)
	_ stack.Owner      = (*Stack)(nil)
	_ stack.Logger     = (*Stack)(nil)
	_ stack.Identifier = (*Stack)(nil)

	_ stack.DeploymentRoller = (*Stack)(nil)
)

// Open connects to the cluster, refuses a namespace that has not opted in
// (ErrNotOptedIn), reads the API key Secret if one is named, and checks
// that at least one pod plays a role.
func Open(ctx context.Context, opts ...Option) (*Stack, error) {
	o := options{logger: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("kubernetes stack: %w", err)
		}
	}
	if o.namespace == "" {
		return nil, errors.New("kubernetes stack: a namespace is required")
	}
	if len(o.roles) == 0 {
		return nil, errors.New("kubernetes stack: no roles: say which pods are the gateway and the model servers")
	}
	if o.conn.InCluster && o.conn.Kubeconfig != "" {
		return nil, errors.New("kubernetes stack: in-cluster and a kubeconfig are exclusive")
	}
	conn, err := o.conn.Pinned()
	if err != nil {
		return nil, fmt.Errorf("kubernetes stack: %w", err)
	}
	o.conn = conn
	cfg, err := o.conn.RESTConfig()
	if err != nil {
		return nil, fmt.Errorf("kubernetes stack: %w", err)
	}
	cli := o.client
	if cli == nil {
		if cli, err = kclient.NewForConfig(cfg); err != nil {
			return nil, fmt.Errorf("kubernetes stack: client: %w", err)
		}
	}
	s := &Stack{o: o, cli: cli, cfg: cfg, log: o.logger, host: cfg.Host, slots: map[stack.Role][]types.UID{}}
	if err := s.checkNamespace(ctx); err != nil {
		return nil, err
	}
	if err := s.resolveGateway(ctx); err != nil {
		return nil, err
	}
	if o.secret != nil {
		sec, err := cli.CoreV1().Secrets(o.namespace).Get(ctx, o.secret.Name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("kubernetes stack: api key secret %s/%s: %w", o.namespace, o.secret.Name, err)
		}
		v, ok := sec.Data[o.secret.Key]
		if !ok {
			return nil, fmt.Errorf("kubernetes stack: api key secret %s/%s has no key %q", o.namespace, o.secret.Name, o.secret.Key)
		}
		s.o.apiKey = string(v)
	}
	svcs, err := s.Services(ctx)
	if err != nil {
		return nil, err
	}
	if len(svcs) == 0 {
		return nil, fmt.Errorf("kubernetes stack: namespace %s: no running pod matches a role (%s)", o.namespace, s.rolesText())
	}
	s.log.Info("kubernetes stack attached", "namespace", o.namespace, "services", len(svcs))
	return s, nil
}

func (s *Stack) rolesText() string {
	var parts []string
	for _, r := range s.roleOrder() {
		parts = append(parts, fmt.Sprintf("%s: %s", r, s.o.roles[r]))
	}
	return strings.Join(parts, "; ")
}

// roleOrder is the roles in a fixed order (gateway < model < monitor < proxy).
func (s *Stack) roleOrder() []stack.Role {
	out := make([]stack.Role, 0, len(s.o.roles))
	for r := range s.o.roles {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// checkNamespace refuses a namespace without the opt-in label.
func (s *Stack) checkNamespace(ctx context.Context) error {
	return checkNamespace(ctx, s.cli, s.o.namespace)
}

func checkNamespace(ctx context.Context, cli kclient.Interface, namespace string) error {
	ns, err := cli.CoreV1().Namespaces().Get(ctx, namespace, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("kubernetes stack: namespace %s: %w", namespace, err)
	}
	if ns.Labels[LabelDrill] != LabelDrillEnabled {
		return fmt.Errorf("kubernetes stack: namespace %s lacks the label %s=%s (`kubectl label namespace %s %s=%s` opts it in): %w",
			namespace, LabelDrill, LabelDrillEnabled, namespace, LabelDrill, LabelDrillEnabled, ErrNotOptedIn)
	}
	return nil
}

// Kind implements stack.Stack.
func (s *Stack) Kind() string { return Kind }

// RunID implements stack.Stack: nothing was created.
func (s *Stack) RunID() string { return "" }

// Namespace is the stack's namespace.
func (s *Stack) Namespace() string { return s.o.namespace }

// Client is the stack's Kubernetes client.
func (s *Stack) Client() kclient.Interface { return s.cli }

// Identity implements stack.Identifier. Its Labels are the namespace's
// opt-in label: journal records carry them, and a replay acts only in a
// namespace that still carries them.
func (s *Stack) Identity() stack.Identity {
	return stack.Identity{
		Key:    "kubernetes-" + s.host + "/" + s.o.namespace,
		Labels: map[string]string{LabelDrill: LabelDrillEnabled},
		Text:   fmt.Sprintf("kubernetes namespace %s (%s)", s.o.namespace, s.host),
	}
}

// APIKey implements stack.Stack.
func (s *Stack) APIKey() string { return s.o.apiKey }

// ModelName implements stack.Stack.
func (s *Stack) ModelName() string { return s.o.modelName }

// Stop implements stack.Stack: nothing was created, nothing is removed.
func (s *Stack) Stop(context.Context) error { return nil }
