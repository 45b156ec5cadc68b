package deploy

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Defaults of the options.
const (
	// DefaultNamespace is where Deploy puts the stack (the namespace
	// stacks/kubernetes-local.yaml names).
	DefaultNamespace = "aiuptime"
	// DefaultModelImage and DefaultGatewayImage are the fixture images
	// `make images` builds; pods never pull them (imagePullPolicy Never).
	DefaultModelImage   = "aiuptime/modelserver:dev"
	DefaultGatewayImage = "aiuptime/gateway:dev"
	// DefaultModelName is the model alias served through the gateway.
	DefaultModelName = "aiuptime-tiny"
	// DefaultModelVersion is the version written into the model's files.
	DefaultModelVersion = "1.0.0"
	// DefaultModelSize is the size of the generated weights. The model
	// travels in a ConfigMap (at most 1 MiB with its other files), so it is
	// smaller than the 16 MiB of the containers provider.
	DefaultModelSize = 256 << 10
	// MaxModelSize is the largest model a ConfigMap holds with room to spare.
	MaxModelSize = 768 << 10
)

type options struct {
	namespace    string
	modelImage   string
	gatewayImage string
	apiKey       string
	modelName    string
	modelVersion string
	modelSize    int64
	nodeSelector map[string]string
	modelHostDir string
	wait         time.Duration
	log          *slog.Logger
}

// Option configures Deploy.
type Option func(*options) error

func newOptions(opts []Option) (*options, error) {
	o := &options{
		namespace: DefaultNamespace, modelImage: DefaultModelImage, gatewayImage: DefaultGatewayImage,
		modelName: DefaultModelName, modelVersion: DefaultModelVersion, modelSize: DefaultModelSize,
		log: slog.New(slog.DiscardHandler),
	}
	for _, opt := range opts {
		if err := opt(o); err != nil {
			return nil, fmt.Errorf("deploy: %w", err)
		}
	}
	return o, nil
}

// WithNamespace sets the namespace (default DefaultNamespace). It is
// created when missing and labelled to opt in to drills.
func WithNamespace(ns string) Option {
	return func(o *options) error {
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			return fmt.Errorf("namespace %q: %s", ns, strings.Join(errs, "; "))
		}
		o.namespace = ns
		return nil
	}
}

// WithImages sets the model server's and the gateway's images (an empty
// one keeps its default).
func WithImages(model, gateway string) Option {
	return func(o *options) error {
		if model != "" {
			o.modelImage = model
		}
		if gateway != "" {
			o.gatewayImage = gateway
		}
		return nil
	}
}

// WithAPIKey sets the gateway's master key. Without it an existing key of
// the stack's Secret is kept, or a random one is made.
func WithAPIKey(key string) Option {
	return func(o *options) error {
		if strings.TrimSpace(key) != key || strings.ContainsAny(key, "\n\r") {
			return errors.New("api key: leading, trailing or line-break characters")
		}
		o.apiKey = key
		return nil
	}
}

// WithModelName sets the served model name (default DefaultModelName).
func WithModelName(name string) Option {
	return func(o *options) error {
		if name == "" {
			return errors.New("empty model name")
		}
		o.modelName = name
		return nil
	}
}

// WithModelSize sets the size of the generated weights in bytes (default
// DefaultModelSize, at most MaxModelSize).
func WithModelSize(n int64) Option {
	return func(o *options) error {
		if n < 1 || n > MaxModelSize {
			return fmt.Errorf("model size %d: want 1..%d bytes (the model travels in a ConfigMap)", n, MaxModelSize)
		}
		o.modelSize = n
		return nil
	}
}

// WithNodeSelector puts every pod on nodes with these labels (default:
// any node), e.g. {"type": "kwok"} for simulated nodes only.
func WithNodeSelector(sel map[string]string) Option {
	return func(o *options) error {
		o.nodeSelector = maps.Clone(sel)
		return nil
	}
}

// WithWait makes Deploy wait, up to timeout, until every Deployment is
// available with all its replicas updated (as `kubectl rollout status`).
func WithWait(timeout time.Duration) Option {
	return func(o *options) error {
		if timeout <= 0 {
			return fmt.Errorf("wait %v: want > 0", timeout)
		}
		o.wait = timeout
		return nil
	}
}

// WithLogger logs progress to l (default: nothing). The API key is never
// logged.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return errors.New("nil logger")
		}
		o.log = l
		return nil
	}
}

// WithModelHostDir writes each model server's files on this host, under
// dir/<Deployment>/models, and mounts them with a hostPath volume instead
// of the read-only ConfigMap: disk faults, backups and restores can then
// act on them (list dir in the stack file's host_path_roots). The harness
// must run on the pods' node, as on the local cluster's real-node tier.
func WithModelHostDir(dir string) Option {
	return func(o *options) error {
		if dir != "" && (!filepath.IsAbs(dir) || filepath.Clean(dir) == "/") {
			return fmt.Errorf("model host dir %q: want an absolute directory other than /", dir)
		}
		o.modelHostDir = dir
		return nil
	}
}
