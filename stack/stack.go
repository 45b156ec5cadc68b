// Package stack describes the system under test: a set of services (a gateway
// and model servers) with the handles a drill needs to observe and hurt them.
//
// Providers live in sub-packages: stack/containers starts the embedded stack
// with testcontainers-go, stack/docker attaches to an existing deployment and
// stack/endpoints is plain URLs (probe only).
package stack

import (
	"context"
	"errors"
)

// Role is what a service does in the stack.
type Role string

// Roles of services.
const (
	RoleGateway Role = "gateway"
	RoleModel   Role = "model"
	// RoleProxy is a fault-injection proxy (Toxiproxy) the provider placed
	// between the gateway and the model servers.
	RoleProxy Role = "proxy"
	// RoleMonitor is a monitoring service such as Prometheus.
	RoleMonitor Role = "monitor"
)

// Label keys put on every container, network and volume a run creates.
const (
	LabelRun     = "aiuptime.run"
	LabelService = "aiuptime.service"
	LabelRole    = "aiuptime.role"
)

// Volume purposes, as named by the plan's disk faults (`volume: models|data`).
const (
	VolumeModels = "models"
	VolumeData   = "data"
)

// Sentinel errors callers branch on.
var (
	// ErrUnsupported is returned when a stack cannot provide a handle, e.g.
	// faults on an endpoints stack.
	ErrUnsupported = errors.New("unsupported on this stack")
	// ErrNotFound is returned for an unknown service name.
	ErrNotFound = errors.New("service not found")
)

// Volume is a volume mounted into a service's container.
type Volume struct {
	// Purpose is VolumeModels or VolumeData.
	Purpose string `json:"purpose"`
	// Name is the Docker volume name (empty for bind mounts).
	Name string `json:"name,omitempty"`
	// HostPath is where the volume's files are on the host
	// (the volume's Mountpoint, or the bind source).
	HostPath string `json:"host_path"`
	// MountPath is where the volume is mounted inside the container.
	MountPath string `json:"mount_path"`
}

// Proxy describes a Toxiproxy proxy sitting in front of a service.
type Proxy struct {
	// APIURL is the host-reachable URL of the Toxiproxy HTTP API.
	APIURL string `json:"api_url"`
	// Name is the proxy's name in Toxiproxy.
	Name string `json:"name"`
}

// Service is one service of a stack, as observed at a point in time.
// Container-level fields (ContainerID, PID) change when a container restarts
// or is recreated: re-read them with Stack.Service before acting.
type Service struct {
	Name string `json:"name"` // stable: gateway, model-0, model-1, ...
	Role Role   `json:"role"`
	// URL is the base URL reachable from the host (http://127.0.0.1:PORT).
	URL string `json:"url"`
	// InternalURL is the base URL on the stack's own network
	// (http://model-0:8000), as the gateway reaches it. Empty if none.
	InternalURL string `json:"internal_url,omitempty"`
	// HealthPath is the readiness path (/health, /health/readiness).
	HealthPath string `json:"health_path"`
	// ModelName is the served model name (model servers).
	ModelName string `json:"model_name,omitempty"`
	// DeploymentID is the gateway's model_info.id for this model server.
	DeploymentID string `json:"deployment_id,omitempty"`

	ContainerID   string `json:"container_id,omitempty"`
	ContainerName string `json:"container_name,omitempty"`
	// PID is the host pid of the container's main process (0 if unknown).
	PID           int      `json:"pid,omitempty"`
	Image         string   `json:"image,omitempty"`
	ImageID       string   `json:"image_id,omitempty"`
	RestartPolicy string   `json:"restart_policy,omitempty"`
	Volumes       []Volume `json:"volumes,omitempty"`
	// Proxy is set when a fault proxy sits in front of this service.
	Proxy *Proxy `json:"proxy,omitempty"`
}

// Volume returns the service's volume with the given purpose.
func (s Service) Volume(purpose string) (Volume, bool) {
	for _, v := range s.Volumes {
		if v.Purpose == purpose {
			return v, true
		}
	}
	return Volume{}, false
}

// Stack is a running system under test.
type Stack interface {
	// Kind names the provider: "containers", "docker" or "endpoints".
	Kind() string
	// RunID is the aiuptime.run label value of what this stack created
	// (empty when nothing was created).
	RunID() string
	// Services lists the services, re-inspected now.
	Services(ctx context.Context) ([]Service, error)
	// Service returns one service by name, re-inspected now; ErrNotFound
	// wraps an unknown name.
	Service(ctx context.Context, name string) (Service, error)
	// APIKey is the key clients use at the gateway (a secret: never log it).
	APIKey() string
	// ModelName is the model alias served through the gateway.
	ModelName() string
	// Stop removes everything the stack created; a no-op for attached stacks.
	Stop(ctx context.Context) error
}
