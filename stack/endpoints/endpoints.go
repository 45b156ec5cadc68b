// Package endpoints is a stack of plain URLs: probe only. It offers no
// capability (no containers, processes, namespaces or volumes), so a plan
// with a fault, a rollout or a restore is refused at validation.
package endpoints

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aiuptime/aiuptime/stack"
)

// Kind is what Stack.Kind returns.
const Kind = "endpoints"

// Default health paths by role.
const (
	DefaultGatewayHealthPath = "/health/readiness"
	DefaultModelHealthPath   = "/health"
)

// Stack is a set of services known only by URL.
type Stack struct {
	services  []stack.Service
	apiKey    string
	modelName string
}

var (
	_ stack.Stack         = (*Stack)(nil)
	_ stack.SetupReporter = (*Stack)(nil)
)

// Capabilities are the stack capabilities an endpoints stack offers: none.
// Plans with faults, rollouts or restores are refused at validation.
var Capabilities = []stack.Capability{}

type options struct {
	apiKey, modelName string
}

// Option configures New.
type Option func(*options) error

// WithAPIKey sets the key clients use at the gateway.
func WithAPIKey(k string) Option { return func(o *options) error { o.apiKey = k; return nil } }

// WithModelName sets the model alias served through the gateway.
func WithModelName(n string) Option { return func(o *options) error { o.modelName = n; return nil } }

// New returns a stack of the given services. Each needs a Name, a Role
// and an http(s) URL; HealthPath defaults by role. Handle fields
// (ContainerID, PID, Volumes, ...) are cleared: an endpoints stack has none.
func New(services []stack.Service, opts ...Option) (*Stack, error) {
	var o options
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("endpoints: %w", err)
		}
	}
	if len(services) == 0 {
		return nil, errors.New("endpoints: no services")
	}
	s := &Stack{apiKey: o.apiKey, modelName: o.modelName}
	seen := map[string]bool{}
	for _, in := range services {
		if in.Name == "" || seen[in.Name] {
			return nil, fmt.Errorf("endpoints: service name %q empty or repeated", in.Name)
		}
		seen[in.Name] = true
		if !strings.HasPrefix(in.URL, "http://") && !strings.HasPrefix(in.URL, "https://") {
			return nil, fmt.Errorf("endpoints: %s: url %q is not http(s)", in.Name, in.URL)
		}
		out := stack.Service{
			Name: in.Name, Role: in.Role, URL: strings.TrimRight(in.URL, "/"), InternalURL: in.InternalURL,
			HealthPath: in.HealthPath, ModelName: in.ModelName, DeploymentID: in.DeploymentID, Server: in.Server,
		}
		if out.HealthPath == "" {
			out.HealthPath = DefaultModelHealthPath
			if out.Role == stack.RoleModel {
				out.HealthPath = stack.ServerOf(out).HealthPath
			}
			if out.Role == stack.RoleGateway {
				out.HealthPath = DefaultGatewayHealthPath
			}
		}
		if out.ModelName == "" {
			out.ModelName = o.modelName
		}
		s.services = append(s.services, out)
	}
	return s, nil
}

// Kind implements stack.Stack.
func (s *Stack) Kind() string { return Kind }

// RunID implements stack.Stack: nothing was created.
func (s *Stack) RunID() string { return "" }

// Services implements stack.Stack.
func (s *Stack) Services(context.Context) ([]stack.Service, error) {
	return append([]stack.Service(nil), s.services...), nil
}

// Service implements stack.Stack.
func (s *Stack) Service(_ context.Context, name string) (stack.Service, error) {
	for _, svc := range s.services {
		if svc.Name == name {
			return svc, nil
		}
	}
	return stack.Service{}, fmt.Errorf("service %q: %w", name, stack.ErrNotFound)
}

// APIKey implements stack.Stack.
func (s *Stack) APIKey() string { return s.apiKey }

// ModelName implements stack.Stack.
func (s *Stack) ModelName() string { return s.modelName }

// Stop implements stack.Stack: a no-op.
func (s *Stack) Stop(context.Context) error { return nil }

// Setup implements stack.SetupReporter: no fault mechanism at all.
func (s *Stack) Setup() stack.Setup {
	return stack.Setup{LatencyMechanism: stack.MechanismNone, DiskFullDetail: "endpoints stack: no volumes"}
}
