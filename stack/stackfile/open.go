package stackfile

import (
	"context"
	"fmt"
	"log/slog"
	"slices"

	"github.com/aiuptime/aiuptime/hostcaps"
	"github.com/aiuptime/aiuptime/stack"
	"github.com/aiuptime/aiuptime/stack/containers"
	"github.com/aiuptime/aiuptime/stack/docker"
	"github.com/aiuptime/aiuptime/stack/endpoints"
	"github.com/aiuptime/aiuptime/stack/kubernetes"
)

type openOptions struct {
	logger     *slog.Logger
	kernel     *hostcaps.Kernel
	containers []containers.Option
}

// OpenOption configures Open.
type OpenOption func(*openOptions)

// WithLogger sets the logger of the provider.
func WithLogger(l *slog.Logger) OpenOption {
	return func(o *openOptions) { o.logger = l }
}

// WithKernel passes down the run's kernel capability probe.
func WithKernel(k hostcaps.Kernel) OpenOption {
	return func(o *openOptions) { o.kernel = &k }
}

// WithContainerOptions passes options to containers.Start, after those the
// stack file implies (so they win). Ignored by other kinds.
func WithContainerOptions(opts ...containers.Option) OpenOption {
	return func(o *openOptions) { o.containers = append(o.containers, opts...) }
}

// EmbeddedFile is the stack file of the embedded default stack.
func EmbeddedFile() *File { return &File{Kind: KindContainers, Path: Embedded} }

// LoadOrEmbedded loads the stack file at path, or returns EmbeddedFile for
// "" and "embedded".
func LoadOrEmbedded(path string) (*File, error) {
	if path == "" || path == Embedded {
		return EmbeddedFile(), nil
	}
	return Load(path)
}

// Open opens the stack a stack file describes: "" or "embedded" starts the
// embedded default (containers), a path is loaded and started (containers)
// or attached (docker, endpoints, kubernetes). As with containers.Start, a
// non-nil Stack may come back with an error: Stop it.
func Open(ctx context.Context, path string, opts ...OpenOption) (stack.Stack, error) {
	f, err := LoadOrEmbedded(path)
	if err != nil {
		return nil, err
	}
	return f.Open(ctx, opts...)
}

// Shape is what the file says of the stack before it runs: the provider's
// capabilities and, for the kinds that know them up front, the services.
// The kernel probe decides whether the embedded stack has a proxy.
func (f *File) Shape(k hostcaps.Kernel) stack.Shape {
	switch f.Kind {
	case KindDocker:
		return stack.Shape{Kind: KindDocker, Capabilities: docker.Capabilities}
	case KindKubernetes:
		// Pods are known only once the stack is attached.
		caps := kubernetes.Capabilities
		if f.Kubernetes.OnNode {
			caps = kubernetes.CapabilitiesOnNode
		}
		if len(f.Kubernetes.HostPathRoots) > 0 {
			caps = append(slices.Clone(caps), stack.CapVolumes)
		}
		return stack.Shape{Kind: KindKubernetes, Capabilities: caps, Ops: kubernetes.Ops}
	case KindEndpoints:
		sh := stack.Shape{Kind: KindEndpoints, Capabilities: endpoints.Capabilities}
		for _, e := range f.Endpoints {
			sh.Services = append(sh.Services, stack.ShapeService{Name: e.Name, Role: stack.Role(e.Role)})
		}
		return sh
	}
	sh := stack.Shape{Kind: KindContainers, Capabilities: containers.Capabilities}
	sh.Services = append(sh.Services, stack.ShapeService{Name: containers.ServiceGateway, Role: stack.RoleGateway})
	n := f.Replicas
	if n == 0 {
		n = containers.DefaultReplicas
	}
	for i := range n {
		sh.Services = append(sh.Services, stack.ShapeService{Name: fmt.Sprintf("model-%d", i), Role: stack.RoleModel})
	}
	mode := containers.ProxyMode(f.Proxy)
	if mode == "" {
		mode = containers.ProxyAuto
	}
	if containers.NeedsProxy(mode, k) {
		sh.Services = append(sh.Services, stack.ShapeService{Name: containers.ServiceProxy, Role: stack.RoleProxy})
	}
	return sh
}

// Open opens the stack the file describes (see Open).
func (f *File) Open(ctx context.Context, opts ...OpenOption) (stack.Stack, error) {
	o := openOptions{logger: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		opt(&o)
	}
	switch f.Kind {
	case KindContainers, "":
		return startContainers(ctx, f, o)
	case KindDocker:
		return f.attach(ctx, o)
	case KindKubernetes:
		return f.openKubernetes(ctx, o)
	case KindEndpoints:
		key, err := f.apiKey()
		if err != nil {
			return nil, err
		}
		var svcs []stack.Service
		for _, e := range f.Endpoints {
			svc := stack.Service{Name: e.Name, Role: stack.Role(e.Role), URL: e.URL, HealthPath: e.HealthPath, ModelName: e.ModelName}
			if svc.Role == stack.RoleModel {
				svc.Server = f.ModelServer
				if svc.ModelName == "" {
					svc.ModelName = f.ServedModel
				}
			}
			svcs = append(svcs, svc)
		}
		st, err := endpoints.New(svcs, endpoints.WithAPIKey(key), endpoints.WithModelName(f.ModelName))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Path, err)
		}
		return st, nil
	}
	return nil, fmt.Errorf("%s: kind %q: want containers, docker, endpoints or kubernetes", f.Path, f.Kind)
}

func (f *File) attach(ctx context.Context, o openOptions) (stack.Stack, error) {
	key, err := f.apiKey()
	if err != nil {
		return nil, err
	}
	dopts := []docker.Option{docker.WithLogger(o.logger), docker.WithAPIKey(key), docker.WithModelName(f.ModelName),
		docker.WithModelServer(f.ModelServer), docker.WithServedModel(f.ServedModel)}
	if f.Docker.Project != "" {
		dopts = append(dopts, docker.WithProject(f.Docker.Project))
	} else {
		dopts = append(dopts, docker.WithSelector(f.Docker.Selector))
	}
	roles := map[string]stack.Role{}
	for k, v := range f.Docker.Roles {
		roles[k] = stack.Role(v)
	}
	dopts = append(dopts, docker.WithRoles(roles))
	for name, s := range f.Services {
		if s.Port != 0 {
			dopts = append(dopts, docker.WithPort(name, s.Port))
		}
		if s.HealthPath != "" {
			dopts = append(dopts, docker.WithHealthPath(name, s.HealthPath))
		}
	}
	st, err := docker.Attach(ctx, dopts...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Path, err)
	}
	return st, nil
}

// ContainerOptions are the containers.Start options the file implies.
func (f *File) ContainerOptions() ([]containers.Option, error) {
	var opts []containers.Option
	add := func(on bool, o containers.Option) {
		if on {
			opts = append(opts, o)
		}
	}
	add(f.ModelName != "", containers.WithModelName(f.ModelName))
	add(f.ModelServer != "", containers.WithModelServer(f.ModelServer))
	add(f.ServedModel != "", containers.WithServedModel(f.ServedModel))
	add(f.Replicas > 0, containers.WithReplicas(f.Replicas))
	add(f.Proxy != "", containers.WithProxyMode(containers.ProxyMode(f.Proxy)))
	add(f.DataVolumeSize > 0, containers.WithDataVolumeSize(f.DataVolumeSize.Bytes()))
	add(f.Model.Version != "", containers.WithModelVersion(f.Model.Version))
	add(f.Model.Size > 0, containers.WithModelSize(f.Model.Size.Bytes()))
	add(f.Model.LoadRate > 0, containers.WithLoadRate(f.Model.LoadRate.Bytes()))
	add(f.Model.TTFT > 0, containers.WithTTFT(f.Model.TTFT.D()))
	add(f.Model.ITL > 0, containers.WithITL(f.Model.ITL.D()))
	// api_key_env names the gateway's master key: the embedded gateway is
	// started with it instead of a key generated for the run.
	key, err := f.apiKey()
	if err != nil {
		return nil, err
	}
	add(key != "", containers.WithMasterKey(key))
	for name, s := range f.Services {
		add(s.Image != "", containers.WithImage(name, s.Image))
		add(len(s.Args) > 0, containers.WithArgs(name, s.Args...))
		for k, v := range s.Env {
			opts = append(opts, containers.WithEnv(name, k, v))
		}
		if s.Port != 0 && name == string(stack.RoleModel) {
			return nil, fmt.Errorf("%s: services.model.port: a fixed host port needs a service name (model-0, ...)", f.Path)
		}
		add(s.Port != 0, containers.WithHostPort(name, s.Port))
		add(s.HealthPath != "", containers.WithHealthPath(name, s.HealthPath))
		add(s.RestartPolicy != "", containers.WithRestartPolicy(name, s.RestartPolicy))
	}
	return opts, nil
}

func startContainers(ctx context.Context, f *File, o openOptions) (stack.Stack, error) {
	opts, err := f.ContainerOptions()
	if err != nil {
		return nil, err
	}
	opts = append([]containers.Option{containers.WithLogger(o.logger)}, opts...)
	if o.kernel != nil {
		opts = append(opts, containers.WithKernel(*o.kernel))
	}
	opts = append(opts, o.containers...)
	st, err := containers.Start(ctx, opts...)
	if st == nil { // never a typed nil inside the interface
		return nil, err
	}
	return st, err
}
