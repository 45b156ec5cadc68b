package containers

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"

	"github.com/aiuptime/aiuptime/stack"
)

// AddService implements stack.Replacer. With stack.RoleModel it starts a
// new model server named name beside the others (blue-green, canary), from
// the stack's model configuration with opts on top, with its own models
// volume, behind its own proxy when the stack has one. With
// stack.RoleGateway it starts another gateway instance on a new host port,
// sharing the gateway config and data volume (two-instance gateway update).
func (s *Stack) AddService(ctx context.Context, name string, role stack.Role, opts ...stack.ServiceOption) (stack.Service, error) {
	if role != stack.RoleModel && role != stack.RoleGateway {
		return stack.Service{}, stack.Unsupported(Kind, fmt.Sprintf("add service %s with role %s", name, role))
	}
	if !validRunID(name) {
		return stack.Service{}, fmt.Errorf("add service %q: want 1-32 of [a-z0-9-]", name)
	}
	s.mu.Lock()
	_, exists := s.svcs[name]
	s.mu.Unlock()
	if exists {
		return stack.Service{}, fmt.Errorf("add service %s: already exists", name)
	}
	spec := stack.NewServiceSpec(opts...)
	if role == stack.RoleGateway {
		sv, err := s.newGatewaySvc(name, spec)
		if err != nil {
			return stack.Service{}, fmt.Errorf("add service %s: %w", name, err)
		}
		s.add(sv)
		if err := s.runGateway(ctx, sv, s.timeout(spec)); err != nil {
			return stack.Service{}, fmt.Errorf("add service %s: %w", name, err)
		}
		return s.Service(ctx, name)
	}
	src, err := s.modelSource(ctx, spec)
	if err != nil {
		return stack.Service{}, fmt.Errorf("add service %s: %w", name, err)
	}
	sv, err := s.newModelSvc(ctx, name, spec, src)
	if err != nil {
		return stack.Service{}, fmt.Errorf("add service %s: %w", name, err)
	}
	if s.ProxyAPIURL() != "" {
		s.mu.Lock()
		sv.proxyListen = proxyListenBase + s.nextProxy
		s.nextProxy++
		sv.proxy = &stack.Proxy{APIURL: s.proxyAPI, Name: sv.name}
		s.mu.Unlock()
	}
	s.add(sv) // before anything runs, so RemoveService and Stop see it
	if sv.proxy != nil {
		if err := s.toxiCreate(ctx, sv.toxi()); err != nil {
			return stack.Service{}, fmt.Errorf("add service %s: %w", name, err)
		}
	}
	if err := s.runModel(ctx, sv, s.timeout(spec)); err != nil {
		return stack.Service{}, fmt.Errorf("add service %s: %w", name, err)
	}
	return s.Service(ctx, name)
}

// ReplaceService implements stack.Replacer for model servers and gateways: it removes
// the container and starts a new one under the same name, alias, host port
// and proxy. The new one starts from the stack's configuration for that
// service (as Start had it) with opts on top, so ReplaceService(ctx, name)
// without options is a rollback. With stack.WithModelVersion, the models
// volume is refilled with that version first.
func (s *Stack) ReplaceService(ctx context.Context, name string, opts ...stack.ServiceOption) (stack.Service, error) {
	s.mu.Lock()
	old, ok := s.svcs[name]
	s.mu.Unlock()
	if !ok {
		return stack.Service{}, fmt.Errorf("replace service %q: %w", name, stack.ErrNotFound)
	}
	spec := stack.NewServiceSpec(opts...)
	if old.role == stack.RoleGateway {
		sv, err := s.newGatewaySvc(name, spec)
		if err != nil {
			return stack.Service{}, fmt.Errorf("replace service %s: %w", name, err)
		}
		sv.hostPort, sv.containerName = old.hostPort, old.containerName
		if err := s.removeContainer(ctx, old.containerName); err != nil {
			return stack.Service{}, fmt.Errorf("replace service %s: %w", name, err)
		}
		s.add(sv)
		if err := s.runGateway(ctx, sv, s.timeout(spec)); err != nil {
			return stack.Service{}, fmt.Errorf("replace service %s: %w", name, err)
		}
		return s.Service(ctx, name)
	}
	if old.role != stack.RoleModel {
		return stack.Service{}, stack.Unsupported(Kind, fmt.Sprintf("replace service %s with role %s", name, old.role))
	}
	cfg := s.o.config(name, stack.RoleModel)
	sv := *old
	sv.image, sv.args, sv.env, sv.modelVersion = s.images[stack.RoleModel], cfg.Args, cfg.Env, s.o.modelVersion
	if cfg.Image != "" {
		sv.image = cfg.Image
	}
	applySpec(&sv, spec)
	sv.containerID = ""
	if sv.modelVersion != old.modelVersion || spec.ModelSize != 0 {
		src, err := s.modelSource(ctx, spec)
		if err != nil {
			return stack.Service{}, fmt.Errorf("replace service %s: %w", name, err)
		}
		// Generate first, touch the running service only when that worked.
		if err := s.removeContainer(ctx, old.containerName); err != nil {
			return stack.Service{}, fmt.Errorf("replace service %s: %w", name, err)
		}
		if v, ok := old.volume(stack.VolumeModels); ok {
			if err := fillDir(src, v.HostPath); err != nil {
				return stack.Service{}, fmt.Errorf("replace service %s: refill models: %w", name, err)
			}
		}
	} else if err := s.removeContainer(ctx, old.containerName); err != nil {
		return stack.Service{}, fmt.Errorf("replace service %s: %w", name, err)
	}
	s.add(&sv)
	if err := s.runModel(ctx, &sv, s.timeout(spec)); err != nil {
		return stack.Service{}, fmt.Errorf("replace service %s: %w", name, err)
	}
	return s.Service(ctx, name)
}

// RemoveService implements stack.Replacer: it removes a model server's
// container, its proxy and its models volume when no other service uses
// it, or a gateway instance's container (the shared data volume stays).
func (s *Stack) RemoveService(ctx context.Context, name string) error {
	s.mu.Lock()
	sv, ok := s.svcs[name]
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("remove service %q: %w", name, stack.ErrNotFound)
	}
	if sv.role != stack.RoleModel && sv.role != stack.RoleGateway {
		return stack.Unsupported(Kind, fmt.Sprintf("remove service %s with role %s", name, sv.role))
	}
	if err := s.removeContainer(ctx, sv.containerName); err != nil {
		return fmt.Errorf("remove service %s: %w", name, err)
	}
	if sv.proxy != nil {
		if err := s.toxiDelete(ctx, name); err != nil {
			return fmt.Errorf("remove service %s: %w", name, err)
		}
	}
	s.mu.Lock()
	delete(s.svcs, name)
	s.order = slices.DeleteFunc(s.order, func(n string) bool { return n == name })
	shared := false
	for _, o := range s.svcs {
		shared = shared || (o.modelVolume != "" && o.modelVolume == sv.modelVolume)
	}
	s.mu.Unlock()
	if sv.modelVolume != "" && !shared {
		if err := removeVolume(ctx, s.cli, sv.modelVolume); err != nil {
			return fmt.Errorf("remove service %s: %w", name, err)
		}
	}
	return nil
}

func (s *Stack) removeContainer(ctx context.Context, name string) error {
	err := s.cli.ContainerRemove(ctx, name, container.RemoveOptions{Force: true})
	if err != nil && !client.IsErrNotFound(err) {
		return fmt.Errorf("remove container %s: %w", name, err)
	}
	return nil
}

func (s *Stack) modelSource(ctx context.Context, spec stack.ServiceSpec) (string, error) {
	if spec.ModelVolume != "" && spec.ModelVersion == "" {
		return "", nil
	}
	if !s.o.fixtureServer() {
		if spec.ModelVersion != "" {
			return "", fmt.Errorf("model version %s on %s servers: their models come with the image (give an image): %w",
				spec.ModelVersion, s.o.server.Name, stack.ErrUnsupported)
		}
		return "", nil // the image's models (ModelsInImage)
	}
	version, size := s.o.modelVersion, s.o.modelSize
	if spec.ModelVersion != "" {
		version = spec.ModelVersion
	}
	if spec.ModelSize != 0 {
		size = spec.ModelSize
	}
	return generatedModel(ctx, s.genBin, s.o.modelName, version, size)
}

func (s *Stack) timeout(spec stack.ServiceSpec) time.Duration {
	if spec.HealthTimeout > 0 {
		return spec.HealthTimeout
	}
	return s.o.healthTimeout
}

func (sv *svc) volume(purpose string) (stack.Volume, bool) {
	for _, v := range sv.volumes {
		if v.Purpose == purpose {
			return v, true
		}
	}
	return stack.Volume{}, false
}
