package stackfile

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/aiuptime/aiuptime/stack"
	"github.com/aiuptime/aiuptime/stack/containers"
	"github.com/aiuptime/aiuptime/stack/docker"
	"github.com/aiuptime/aiuptime/stack/endpoints"
)

type openOptions struct {
	logger     *slog.Logger
	containers []containers.Option
}

// OpenOption configures Open.
type OpenOption func(*openOptions)

// WithLogger sets the logger of the provider.
func WithLogger(l *slog.Logger) OpenOption {
	return func(o *openOptions) { o.logger = l }
}

// WithContainerOptions passes options to containers.Start, after those the
// stack file implies (so they win). Ignored by other kinds.
func WithContainerOptions(opts ...containers.Option) OpenOption {
	return func(o *openOptions) { o.containers = append(o.containers, opts...) }
}

// Open opens the stack a stack file describes: "" or "embedded" starts the
// embedded default (containers), a path is loaded and started (containers)
// or attached (docker, endpoints). As with containers.Start, a non-nil
// Stack may come back with an error: Stop it.
func Open(ctx context.Context, path string, opts ...OpenOption) (stack.Stack, error) {
	o := openOptions{logger: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		opt(&o)
	}
	if path == "" || path == Embedded {
		return startContainers(ctx, &File{Kind: KindContainers, Path: Embedded}, o)
	}
	f, err := Load(path)
	if err != nil {
		return nil, err
	}
	return f.Open(ctx, opts...)
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
		key, err := f.apiKey()
		if err != nil {
			return nil, err
		}
		dopts := []docker.Option{docker.WithLogger(o.logger), docker.WithAPIKey(key), docker.WithModelName(f.ModelName)}
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
	case KindEndpoints:
		key, err := f.apiKey()
		if err != nil {
			return nil, err
		}
		var svcs []stack.Service
		for _, e := range f.Endpoints {
			svcs = append(svcs, stack.Service{Name: e.Name, Role: stack.Role(e.Role), URL: e.URL, HealthPath: e.HealthPath, ModelName: e.ModelName})
		}
		st, err := endpoints.New(svcs, endpoints.WithAPIKey(key), endpoints.WithModelName(f.ModelName))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Path, err)
		}
		return st, nil
	}
	return nil, fmt.Errorf("%s: kind %q: want containers, docker or endpoints", f.Path, f.Kind)
}

// ContainerOptions are the containers.Start options the file implies.
func (f *File) ContainerOptions() ([]containers.Option, error) {
	var opts []containers.Option
	if f.ModelName != "" {
		opts = append(opts, containers.WithModelName(f.ModelName))
	}
	if f.Replicas > 0 {
		opts = append(opts, containers.WithReplicas(f.Replicas))
	}
	if f.Proxy != "" {
		opts = append(opts, containers.WithProxyMode(containers.ProxyMode(f.Proxy)))
	}
	if n, _ := ParseSize(f.DataVolumeSize); n > 0 {
		opts = append(opts, containers.WithDataVolumeSize(n))
	}
	if f.Model.Version != "" {
		opts = append(opts, containers.WithModelVersion(f.Model.Version))
	}
	if n, _ := ParseSize(f.Model.Size); n > 0 {
		opts = append(opts, containers.WithModelSize(n))
	}
	if n, _ := ParseSize(f.Model.LoadRate); n > 0 {
		opts = append(opts, containers.WithLoadRate(n))
	}
	if d, _ := parseDuration(f.Model.TTFT); d > 0 {
		opts = append(opts, containers.WithTTFT(d))
	}
	if d, _ := parseDuration(f.Model.ITL); d > 0 {
		opts = append(opts, containers.WithITL(d))
	}
	for name, s := range f.Services {
		if s.Image != "" {
			opts = append(opts, containers.WithImage(name, s.Image))
		}
		if len(s.Args) > 0 {
			opts = append(opts, containers.WithArgs(name, s.Args...))
		}
		for k, v := range s.Env {
			opts = append(opts, containers.WithEnv(name, k, v))
		}
		if s.Port != 0 {
			if name == string(stack.RoleModel) {
				return nil, fmt.Errorf("%s: services.model.port: a fixed host port needs a service name (model-0, ...)", f.Path)
			}
			opts = append(opts, containers.WithHostPort(name, s.Port))
		}
		if s.HealthPath != "" {
			opts = append(opts, containers.WithHealthPath(name, s.HealthPath))
		}
		if s.RestartPolicy != "" {
			opts = append(opts, containers.WithRestartPolicy(name, s.RestartPolicy))
		}
	}
	return opts, nil
}

func startContainers(ctx context.Context, f *File, o openOptions) (stack.Stack, error) {
	opts, err := f.ContainerOptions()
	if err != nil {
		return nil, err
	}
	opts = append([]containers.Option{containers.WithLogger(o.logger)}, opts...)
	opts = append(opts, o.containers...)
	st, err := containers.Start(ctx, opts...)
	if st == nil { // never a typed nil inside the interface
		return nil, err
	}
	return st, err
}
