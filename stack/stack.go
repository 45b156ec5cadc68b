// Package stack describes the system under test: a set of services (a gateway
// and model servers) with the handles a drill needs to observe and hurt them.
//
// Providers live in sub-packages: stack/containers starts the embedded stack
// with testcontainers-go, stack/docker attaches to an existing deployment,
// stack/kubernetes attaches to the pods of an opted-in namespace and
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

// The API port and readiness path each role usually has when nothing says
// otherwise: LiteLLM's 4000 and /health/readiness, vLLM's 8000 and /health,
// Toxiproxy's API, Prometheus's. Attaching providers (docker, kubernetes)
// share them.
var (
	DefaultPorts       = map[Role]int{RoleGateway: 4000, RoleModel: 8000, RoleProxy: 8474, RoleMonitor: 9090}
	DefaultHealthPaths = map[Role]string{RoleGateway: "/health/readiness", RoleModel: "/health", RoleProxy: "/version", RoleMonitor: "/-/ready"}
)

// Label keys put on every container, network and volume a run creates.
const (
	LabelRun     = "aiuptime.run"
	LabelService = "aiuptime.service"
	LabelRole    = "aiuptime.role"
	// LabelProxy names the Toxiproxy proxy in front of a model server (the
	// proxy service of the same run or selection serves it).
	LabelProxy = "aiuptime.proxy"
)

// Volume purposes, as named by the plan's disk faults (`volume: models|data`)
// and by backups (`config`: the gateway's configuration file).
const (
	VolumeModels = "models"
	VolumeData   = "data"
	VolumeConfig = "config"
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
	// Purpose is VolumeModels, VolumeData or VolumeConfig.
	Purpose string `json:"purpose"`
	// Name is the Docker volume name (empty for bind mounts).
	Name string `json:"name,omitempty"`
	// HostPath is where the volume's files are on the host
	// (the volume's Mountpoint, or the bind source; a file for VolumeConfig).
	HostPath string `json:"host_path"`
	// MountPath is where the volume is mounted inside the container.
	MountPath string `json:"mount_path"`
	// ReadOnly says the container mounts it read-only by configuration.
	ReadOnly bool `json:"read_only,omitempty"`
	// PID is a host pid inside the service's mount namespace (0 if none)
	// and PIDStart its start time: a remount acts there.
	PID      int    `json:"pid,omitempty"`
	PIDStart uint64 `json:"pid_start,omitempty"`
}

// Proxy describes a Toxiproxy proxy sitting in front of a service.
type Proxy struct {
	// APIURL is the host-reachable URL of the Toxiproxy HTTP API.
	APIURL string `json:"api_url"`
	// Name is the proxy's name in Toxiproxy.
	Name string `json:"name"`
}

// Service is one service of a stack, as observed at a point in time. It
// says where to reach the service and what runs it; what a fault needs to
// act on it (its namespaces, processes, volumes) comes from the stack's
// capabilities. ContainerID changes when a container is recreated: re-read
// the service with Stack.Service before reporting it.
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
	// Server is the kind of model server (RegisterServer's name; empty
	// is ServerVLLM): where its version is, which process is its engine.
	Server string `json:"server,omitempty"`

	// ContainerID and ContainerName name the container (or pod) running
	// the service, for reports and logs.
	ContainerID   string `json:"container_id,omitempty"`
	ContainerName string `json:"container_name,omitempty"`
	Image         string `json:"image,omitempty"`
	ImageID       string `json:"image_id,omitempty"`
	RestartPolicy string `json:"restart_policy,omitempty"`
}

// Stack is a running system under test.
type Stack interface {
	// Kind names the provider ("containers", "docker", "endpoints"), for
	// reports and messages; behaviour follows capabilities, never the kind.
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
