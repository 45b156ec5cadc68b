package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	kclient "k8s.io/client-go/kubernetes"

	"github.com/aiuptime/aiuptime/stack"
)

type options struct {
	conn        Conn
	namespace   string
	roles       map[stack.Role]RoleSelector
	gatewayURL  string
	gatewaySvc  string // a Service whose ClusterIP gives gatewayURL (resolveGateway)
	ports       map[string]int
	healthPaths map[string]string
	apiKey      string
	secret      *SecretRef
	modelName   string
	client      kclient.Interface
	logger      *slog.Logger
	hostRoots   []string
	kubeletRoot string
	onNode      bool   // Attach returns a NodeStack (onnode.go)
	node        string // its node ("" detects it)
	generator   *ModelGenerator
}

// SecretRef names a key of a Secret in the stack's namespace.
type SecretRef struct {
	Name string
	Key  string
}

// Option configures Open.
type Option func(*options) error

// WithKubeconfig reads the cluster from the kubeconfig at path (made
// absolute: undo records are replayed from other working directories).
func WithKubeconfig(path string) Option {
	return func(o *options) error {
		if path == "" {
			return nil
		}
		abs, err := filepath.Abs(path)
		if err != nil {
			return fmt.Errorf("kubeconfig %q: %w", path, err)
		}
		o.conn.Kubeconfig = abs
		return nil
	}
}

// WithContext picks a context of the kubeconfig.
func WithContext(name string) Option {
	return func(o *options) error { o.conn.Context = name; return nil }
}

// WithInCluster uses the service account of the pod the harness runs in.
func WithInCluster() Option {
	return func(o *options) error { o.conn.InCluster = true; return nil }
}

// WithNamespace sets the namespace (required).
func WithNamespace(ns string) Option {
	return func(o *options) error {
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			return fmt.Errorf("namespace %q: %s", ns, strings.Join(errs, "; "))
		}
		o.namespace = ns
		return nil
	}
}

// WithRole says which pods play role r.
func WithRole(r stack.Role, sel RoleSelector) Option {
	return func(o *options) error {
		if (sel.Selector == "") == (sel.Deployment == "") {
			return fmt.Errorf("role %s: want exactly one of a selector and a deployment", r)
		}
		if sel.Selector != "" {
			if _, err := labels.Parse(sel.Selector); err != nil {
				return fmt.Errorf("role %s: selector %q: %w", r, sel.Selector, err)
			}
		}
		if o.roles == nil {
			o.roles = map[stack.Role]RoleSelector{}
		}
		o.roles[r] = sel
		return nil
	}
}

// WithGatewayURL is the host-reachable URL of the gateway's Service; every
// gateway pod's Service.URL is it (the probe goes through the Service),
// while InternalURL is the pod's own address.
func WithGatewayURL(u string) Option {
	return func(o *options) error { o.gatewayURL = strings.TrimRight(u, "/"); return nil }
}

// WithGatewayService names the gateway's Service in the stack's namespace:
// without WithGatewayURL, Open makes http://<its ClusterIP>:<its port> the
// gateway's URL (reachable from pods and from a node with kube-proxy).
func WithGatewayService(name string) Option {
	return func(o *options) error {
		if errs := validation.IsDNS1035Label(name); len(errs) > 0 {
			return fmt.Errorf("gateway service %q: %s", name, strings.Join(errs, "; "))
		}
		o.gatewaySvc = name
		return nil
	}
}

// WithPort sets the API port for a service name or role (default: the
// pod's first declared container port, else DefaultPorts).
func WithPort(key string, port int) Option {
	return func(o *options) error {
		if o.ports == nil {
			o.ports = map[string]int{}
		}
		o.ports[key] = port
		return nil
	}
}

// WithHealthPath sets the readiness path for a service name or role
// (default DefaultHealthPaths).
func WithHealthPath(key, path string) Option {
	return func(o *options) error {
		if o.healthPaths == nil {
			o.healthPaths = map[string]string{}
		}
		o.healthPaths[key] = path
		return nil
	}
}

// WithAPIKey sets the key clients use at the gateway.
func WithAPIKey(k string) Option { return func(o *options) error { o.apiKey = k; return nil } }

// WithAPIKeySecret reads the gateway key from key of the Secret name in
// the stack's namespace when the stack is opened.
func WithAPIKeySecret(name, key string) Option {
	return func(o *options) error {
		if name == "" || key == "" {
			return errors.New("api key secret: want a name and a key")
		}
		o.secret = &SecretRef{Name: name, Key: key}
		return nil
	}
}

// WithModelName sets the model alias served through the gateway.
func WithModelName(n string) Option { return func(o *options) error { o.modelName = n; return nil } }

// WithClient uses cs instead of a client built from the connection options
// (which must still load: they are journaled for undo replays and name the
// stack's API server).
func WithClient(cs kclient.Interface) Option {
	return func(o *options) error { o.client = cs; return nil }
}

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return errors.New("nil logger")
		}
		o.logger = l
		return nil
	}
}

// resolveGateway sets the gateway's URL from the Service WithGatewayService
// names, unless WithGatewayURL gave one: its ClusterIP and its port (the
// only one, else the one named "http", else the gateway's default port).
func (s *Stack) resolveGateway(ctx context.Context) error {
	if s.o.gatewayURL != "" || s.o.gatewaySvc == "" {
		return nil
	}
	svc, err := s.cli.CoreV1().Services(s.o.namespace).Get(ctx, s.o.gatewaySvc, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("kubernetes stack: gateway service %s/%s: %w", s.o.namespace, s.o.gatewaySvc, err)
	}
	ip := svc.Spec.ClusterIP
	if ip == "" || ip == corev1.ClusterIPNone || len(svc.Spec.Ports) == 0 {
		return fmt.Errorf("kubernetes stack: gateway service %s/%s has no cluster IP and port", s.o.namespace, s.o.gatewaySvc)
	}
	port := svc.Spec.Ports[0].Port
	for _, p := range svc.Spec.Ports[1:] {
		if p.Name == "http" || int(p.Port) == DefaultPorts[stack.RoleGateway] {
			port = p.Port
		}
	}
	s.o.gatewayURL = "http://" + net.JoinHostPort(ip, strconv.Itoa(int(port)))
	return nil
}
