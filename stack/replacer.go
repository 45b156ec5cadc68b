package stack

import (
	"context"
	"time"
)

// Replacer is an optional capability of stacks that can start, replace and
// remove model servers (the containers provider). Rollouts find it by type
// assertion:
//
//	r, ok := st.(stack.Replacer)
//
// New services join the stack's network under their name, get a fault proxy
// when the stack has one, and are healthy when the call returns. The gateway
// configuration is not changed: rollouts register new deployments through the
// gateway's admin API using Service.InternalURL and Service.DeploymentID.
type Replacer interface {
	// AddService starts a new service (role model) named name beside the
	// others, e.g. "model-0-green" for blue-green or "canary" for a canary.
	AddService(ctx context.Context, name string, role Role, opts ...ServiceOption) (Service, error)
	// ReplaceService stops and removes the named service's container and
	// starts a new one with the same name, network alias, volumes and
	// proxy, changed by opts (another image, version, args or model).
	ReplaceService(ctx context.Context, name string, opts ...ServiceOption) (Service, error)
	// RemoveService stops and removes a service and what was created for it
	// alone (its container, its model volume, its proxy).
	RemoveService(ctx context.Context, name string) error
}

// ServiceSpec is what a ServiceOption changes. Zero fields keep the
// provider's current value (ReplaceService) or default (AddService).
type ServiceSpec struct {
	// Image is the container image.
	Image string
	// Args are extra command-line arguments appended after the provider's.
	Args []string
	// Env is extra environment.
	Env map[string]string
	// ModelVersion regenerates the model dir with this version (a new
	// model dir: the golden answer changes).
	ModelVersion string
	// ModelSize is the size of a generated model in bytes.
	ModelSize int64
	// ModelVolume reuses the models volume of another service by its
	// service name instead of a fresh one (ignored with ModelVersion).
	ModelVolume string
	// HealthTimeout bounds the wait for health (0: provider default).
	HealthTimeout time.Duration
}

// ServiceOption changes a ServiceSpec.
type ServiceOption func(*ServiceSpec)

// WithImage sets the image of a new or replaced service.
func WithImage(image string) ServiceOption { return func(s *ServiceSpec) { s.Image = image } }

// WithArgs appends command-line arguments, e.g. "--extra-latency", "200ms".
func WithArgs(args ...string) ServiceOption {
	return func(s *ServiceSpec) { s.Args = append(s.Args, args...) }
}

// WithEnv adds an environment variable.
func WithEnv(key, value string) ServiceOption {
	return func(s *ServiceSpec) {
		if s.Env == nil {
			s.Env = map[string]string{}
		}
		s.Env[key] = value
	}
}

// WithModelVersion serves a freshly generated model dir of this version.
func WithModelVersion(v string) ServiceOption { return func(s *ServiceSpec) { s.ModelVersion = v } }

// WithModelSize sets the size in bytes of a generated model.
func WithModelSize(n int64) ServiceOption { return func(s *ServiceSpec) { s.ModelSize = n } }

// WithModelVolumeOf mounts the models volume of the named service.
func WithModelVolumeOf(service string) ServiceOption {
	return func(s *ServiceSpec) { s.ModelVolume = service }
}

// WithHealthTimeout bounds how long the provider waits for health.
func WithHealthTimeout(d time.Duration) ServiceOption {
	return func(s *ServiceSpec) { s.HealthTimeout = d }
}

// NewServiceSpec applies opts to an empty spec.
func NewServiceSpec(opts ...ServiceOption) ServiceSpec {
	var s ServiceSpec
	for _, o := range opts {
		if o != nil {
			o(&s)
		}
	}
	return s
}

// ChangeJournal journals, before a provider makes it, a change that is
// not a fault but must not outlive a crashed drill either: a canary's
// Deployment, a Service's selector switched to a green set. target names
// what changes, u is how to undo it and note says so in words. The
// returned forget drops the record once the change is undone, or once
// the drill decides to keep it (a promoted release).
type ChangeJournal func(target string, u Undo, note string) (forget func() error, err error)

// ChangeJournaler is a provider that journals its own changes through a
// ChangeJournal the drill sets (stack/kubernetes does; a containers
// stack's additions go with its teardown).
type ChangeJournaler interface {
	SetChangeJournal(j ChangeJournal)
}
