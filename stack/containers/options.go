package containers

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aiuptime/aiuptime/hostcaps"
	"github.com/aiuptime/aiuptime/internal/procfs"
	"github.com/aiuptime/aiuptime/stack"
)

// Defaults of the embedded stack.
const (
	DefaultReplicas       = 2
	DefaultModelName      = "aiuptime-tiny"
	DefaultModelVersion   = "1.0.0"
	DefaultModelSize      = 16 << 20 // bytes
	DefaultDataVolumeSize = 64 << 20 // bytes, the gateway's size-limited data volume
	DefaultHealthTimeout  = 2 * time.Minute
	// DefaultRestartPolicy is the model servers' restart policy, as
	// production should have it (vLLM exits 0 when its engine dies).
	DefaultRestartPolicy = "unless-stopped"
)

// ProxyMode says when a Toxiproxy is placed between the gateway and each
// model server.
type ProxyMode string

// Proxy modes.
const (
	// ProxyAuto places the proxy only when the kernel has no sch_netem.
	ProxyAuto ProxyMode = "auto"
	// ProxyAlways always places the proxy.
	ProxyAlways ProxyMode = "always"
	// ProxyNever never places it.
	ProxyNever ProxyMode = "never"
)

// ParseProxyMode parses auto|always|never ("" is auto).
func ParseProxyMode(s string) (ProxyMode, error) {
	switch ProxyMode(s) {
	case "", ProxyAuto:
		return ProxyAuto, nil
	case ProxyAlways, ProxyNever:
		return ProxyMode(s), nil
	}
	return "", fmt.Errorf("proxy mode %q: want auto, always or never", s)
}

// ServiceConfig is the per-service (or per-role) configuration the stack
// file and options set. Zero fields keep the defaults.
type ServiceConfig struct {
	Image         string
	Args          []string
	Env           map[string]string
	HostPort      int
	HealthPath    string
	RestartPolicy string
}

type options struct {
	runID          string
	owner          procfs.Ident
	keep           bool
	logger         *slog.Logger
	replicas       int
	modelName      string
	modelVersion   string
	modelSize      int64
	loadRate       int64
	ttft, itl      time.Duration
	modelAPIKey    string
	masterKey      string
	proxyMode      ProxyMode
	stateDir       string
	kernel         *hostcaps.Kernel
	dataVolumeSize int64
	healthTimeout  time.Duration
	// server is the kind of model server (stack.LookupServer) and
	// servedModel the name it serves ("": modelName).
	server      stack.Server
	servedModel string
	// services is keyed by a service name (gateway, model-1, proxy) or a
	// role (model): the role entry applies first, the name entry on top.
	services map[string]*ServiceConfig
}

// Option configures Start.
type Option func(*options) error

func defaultOptions() options {
	return options{
		logger:         slog.New(slog.DiscardHandler),
		replicas:       DefaultReplicas,
		modelName:      DefaultModelName,
		modelVersion:   DefaultModelVersion,
		modelSize:      DefaultModelSize,
		proxyMode:      ProxyAuto,
		dataVolumeSize: DefaultDataVolumeSize,
		healthTimeout:  DefaultHealthTimeout,
		server:         mustServer(stack.ServerVLLM),
		services:       map[string]*ServiceConfig{},
	}
}

func (o *options) svc(key string) *ServiceConfig {
	c, ok := o.services[key]
	if !ok {
		c = &ServiceConfig{}
		o.services[key] = c
	}
	return c
}

// config merges the role entry and the name entry for one service.
func (o *options) config(name string, role stack.Role) ServiceConfig {
	var out ServiceConfig
	for _, key := range []string{string(role), name} {
		c, ok := o.services[key]
		if !ok {
			continue
		}
		if c.Image != "" {
			out.Image = c.Image
		}
		out.Args = append(out.Args, c.Args...)
		for k, v := range c.Env {
			if out.Env == nil {
				out.Env = map[string]string{}
			}
			out.Env[k] = v
		}
		if c.HostPort != 0 && key == name {
			out.HostPort = c.HostPort
		}
		if c.HealthPath != "" {
			out.HealthPath = c.HealthPath
		}
		if c.RestartPolicy != "" {
			out.RestartPolicy = c.RestartPolicy
		}
	}
	return out
}

// WithRunID sets the run id (the aiuptime.run label); default random.
func WithRunID(id string) Option {
	return func(o *options) error {
		if !validRunID(id) {
			return fmt.Errorf("run id %q: want 1-32 of [a-z0-9-], starting with a letter or digit", id)
		}
		o.runID = id
		return nil
	}
}

// WithLogger sets the logger (default: discard). Secrets are never logged.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return errors.New("nil logger")
		}
		o.logger = l
		return nil
	}
}

// WithReplicas sets the number of model servers (default DefaultReplicas).
func WithReplicas(n int) Option {
	return func(o *options) error {
		if n < 1 || n > 16 {
			return fmt.Errorf("replicas %d: want 1..16", n)
		}
		o.replicas = n
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

// WithModelVersion sets the generated model's version.
func WithModelVersion(v string) Option {
	return func(o *options) error {
		if v == "" {
			return errors.New("empty model version")
		}
		o.modelVersion = v
		return nil
	}
}

// WithModelSize sets the generated model's size in bytes.
func WithModelSize(n int64) Option {
	return func(o *options) error {
		if n <= 0 {
			return fmt.Errorf("model size %d: want > 0", n)
		}
		o.modelSize = n
		return nil
	}
}

// WithLoadRate paces model loads at bytes per second (0: unpaced).
func WithLoadRate(bytesPerSecond int64) Option {
	return func(o *options) error {
		if bytesPerSecond < 0 {
			return fmt.Errorf("load rate %d: want >= 0", bytesPerSecond)
		}
		o.loadRate = bytesPerSecond
		return nil
	}
}

// WithTTFT sets the model servers' simulated time to first token.
func WithTTFT(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return fmt.Errorf("ttft %s: want >= 0", d)
		}
		o.ttft = d
		return nil
	}
}

// WithITL sets the model servers' simulated inter-token latency.
func WithITL(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return fmt.Errorf("itl %s: want >= 0", d)
		}
		o.itl = d
		return nil
	}
}

// WithModelAPIKey makes the model servers require key (default: none, as
// vLLM on an internal network); the gateway config carries it.
func WithModelAPIKey(key string) Option {
	return func(o *options) error { o.modelAPIKey = key; return nil }
}

// WithMasterKey sets the gateway master key (default: random per run).
func WithMasterKey(key string) Option {
	return func(o *options) error {
		if key == "" {
			return errors.New("empty master key")
		}
		o.masterKey = key
		return nil
	}
}

// WithProxyMode sets when a Toxiproxy is placed (default ProxyAuto).
func WithProxyMode(m ProxyMode) Option {
	return func(o *options) error {
		if _, err := ParseProxyMode(string(m)); err != nil {
			return err
		}
		o.proxyMode = m
		return nil
	}
}

// WithKernel passes down the run's kernel capability probe (which decides
// whether a Toxiproxy is needed); without it Start probes itself.
func WithKernel(k hostcaps.Kernel) Option {
	return func(o *options) error { o.kernel = &k; return nil }
}

// NeedsProxy reports whether a stack with proxy mode m places a Toxiproxy
// in front of each model server on a kernel like k.
func NeedsProxy(m ProxyMode, k hostcaps.Kernel) bool {
	switch m {
	case ProxyAlways:
		return true
	case ProxyNever:
		return false
	}
	return !k.Netem
}

// WithStateDir sets the host directory for run files (gateway config, data
// volume image and mount); default DefaultStateDir().
func WithStateDir(dir string) Option {
	return func(o *options) error { o.stateDir = dir; return nil }
}

// WithDataVolumeSize sets the size of the gateway's size-limited data
// volume in bytes.
func WithDataVolumeSize(n int64) Option {
	return func(o *options) error {
		if n < 8<<20 {
			return fmt.Errorf("data volume size %d: want >= 8 MiB", n)
		}
		o.dataVolumeSize = n
		return nil
	}
}

// WithHealthTimeout bounds the wait for each service's health.
func WithHealthTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("health timeout %s: want > 0", d)
		}
		o.healthTimeout = d
		return nil
	}
}

// WithImage runs service (a name such as "gateway", or the role "model"
// for every model server, or "proxy") from image instead of building the
// fixture image.
func WithImage(service, image string) Option {
	return func(o *options) error { o.svc(service).Image = image; return nil }
}

// WithArgs appends command-line arguments for a service name or role.
func WithArgs(service string, args ...string) Option {
	return func(o *options) error {
		c := o.svc(service)
		c.Args = append(c.Args, args...)
		return nil
	}
}

// WithEnv sets an environment variable for a service name or role.
func WithEnv(service, key, value string) Option {
	return func(o *options) error {
		c := o.svc(service)
		if c.Env == nil {
			c.Env = map[string]string{}
		}
		c.Env[key] = value
		return nil
	}
}

// WithHostPort publishes a service (by name) on a fixed 127.0.0.1 port
// instead of a free one.
func WithHostPort(service string, port int) Option {
	return func(o *options) error {
		if port < 1 || port > 65535 {
			return fmt.Errorf("host port %d for %s: want 1..65535", port, service)
		}
		o.svc(service).HostPort = port
		return nil
	}
}

// WithHealthPath overrides the readiness path of a service name or role.
func WithHealthPath(service, path string) Option {
	return func(o *options) error { o.svc(service).HealthPath = path; return nil }
}

// WithRestartPolicy sets the Docker restart policy of a service name or
// role (no, always, unless-stopped, on-failure).
func WithRestartPolicy(service, policy string) Option {
	return func(o *options) error {
		switch policy {
		case "no", "always", "unless-stopped", "on-failure":
		default:
			return fmt.Errorf("restart policy %q for %s: want no, always, unless-stopped or on-failure", policy, service)
		}
		o.svc(service).RestartPolicy = policy
		return nil
	}
}

func validRunID(id string) bool { return stack.ValidRunID(id) }

// WithKeep marks the stack as meant to outlive the process that starts it
// (`drill stack up`, `drill run --keep-stack`): `drill cleanup` never
// removes it, only `drill stack down` does. Without it a stack whose
// starting process is gone is abandoned, and `drill cleanup` removes it.
func WithKeep(keep bool) Option {
	return func(o *options) error { o.keep = keep; return nil }
}

func mustServer(name string) stack.Server {
	s, ok := stack.LookupServer(name)
	if !ok {
		panic("containers: model server " + name + " is not registered")
	}
	return s
}

// WithModelServer sets the kind of model server the replicas run
// (stack.ServerNames; default vllm, served by the project's simulator).
// A kind other than the simulator runs its registered image unless
// WithImage names another, with its own port, health path and models
// mount, and no fixture arguments.
func WithModelServer(name string) Option {
	return func(o *options) error {
		s, err := stack.FindServer(name)
		o.server = s
		return err
	}
}

// WithServedModel sets the model name the model servers serve, when it
// differs from the name clients ask the gateway for (Ollama's
// "tiny:latest" behind the alias "aiuptime-tiny").
func WithServedModel(name string) Option {
	return func(o *options) error { o.servedModel = name; return nil }
}

// fixtureServer says the replicas run the project's simulator (its
// arguments, generated models and nvidia-smi shim).
func (o *options) fixtureServer() bool { return o.server.Name == stack.ServerVLLM }

// served is the model name the model servers serve.
func (o *options) served() string {
	if o.servedModel != "" {
		return o.servedModel
	}
	return o.modelName
}
