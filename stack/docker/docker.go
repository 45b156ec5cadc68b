// Package docker attaches to an existing deployment (a docker compose
// project, or containers chosen by a label selector) and maps its
// containers to stack services. It creates and removes nothing: Stop is a
// no-op.
//
//	st, err := docker.Attach(ctx, docker.WithProject("litellm"),
//		docker.WithRoles(map[string]stack.Role{"litellm": stack.RoleGateway, "vllm": stack.RoleModel}))
//
// Roles come from the aiuptime.role label, else from WithRoles keyed by the
// compose service name; containers with neither are ignored. Names come
// from the aiuptime.service label, else the compose service name (with
// "-N" for replicas).
package docker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
	"github.com/docker/go-connections/nat"

	"github.com/aiuptime/aiuptime/stack"
	"github.com/aiuptime/aiuptime/stack/containers"
)

// Kind is what Stack.Kind returns.
const Kind = "docker"

// Compose labels read to map containers.
const (
	LabelComposeProject = "com.docker.compose.project"
	LabelComposeService = "com.docker.compose.service"
	LabelComposeNumber  = "com.docker.compose.container-number"
	// LabelVolumePrefix + purpose (models, data) names the mount path of a
	// volume, e.g. aiuptime.volume.models=/root/.cache/huggingface.
	LabelVolumePrefix = "aiuptime.volume."
	// LabelDeploymentID overrides the gateway deployment id of a model server.
	LabelDeploymentID = "aiuptime.deployment-id"
)

// Default API ports, health paths and volume mount paths by role.
var (
	DefaultPorts       = map[stack.Role]int{stack.RoleGateway: 4000, stack.RoleModel: 8000, stack.RoleProxy: 8474, stack.RoleMonitor: 9090}
	DefaultHealthPaths = map[stack.Role]string{stack.RoleGateway: "/health/readiness", stack.RoleModel: "/health", stack.RoleProxy: "/version", stack.RoleMonitor: "/-/ready"}
	DefaultMounts      = map[string]string{stack.VolumeModels: "/models", stack.VolumeData: "/data"}
)

type options struct {
	project     string
	selector    map[string]string
	roles       map[string]stack.Role
	ports       map[string]int
	healthPaths map[string]string
	apiKey      string
	modelName   string
	logger      *slog.Logger
}

// Option configures Attach.
type Option func(*options) error

// WithProject selects the containers of a docker compose project.
func WithProject(name string) Option {
	return func(o *options) error { o.project = name; return nil }
}

// WithSelector selects containers carrying all these labels.
func WithSelector(labels map[string]string) Option {
	return func(o *options) error { o.selector = labels; return nil }
}

// WithRoles maps compose service names (or container names) to roles.
func WithRoles(roles map[string]stack.Role) Option {
	return func(o *options) error { o.roles = roles; return nil }
}

// WithPort sets the container port of the API for a service name, compose
// service or role (default DefaultPorts).
func WithPort(key string, port int) Option {
	return func(o *options) error {
		if o.ports == nil {
			o.ports = map[string]int{}
		}
		o.ports[key] = port
		return nil
	}
}

// WithHealthPath sets the readiness path for a service name, compose
// service or role (default DefaultHealthPaths).
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

// WithModelName sets the model alias served through the gateway.
func WithModelName(n string) Option { return func(o *options) error { o.modelName = n; return nil } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(o *options) error { o.logger = l; return nil } }

// Stack is an attached deployment.
type Stack struct {
	o   options
	cli *client.Client
}

var _ stack.Stack = (*Stack)(nil)

// Attach connects to Docker and checks that the selection has at least
// one service with a role.
func Attach(ctx context.Context, opts ...Option) (*Stack, error) {
	o := options{logger: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("docker stack: %w", err)
		}
	}
	if (o.project == "") == (len(o.selector) == 0) {
		return nil, errors.New("docker stack: need exactly one of a compose project and a label selector")
	}
	cli, err := containers.Connect(ctx)
	if err != nil {
		return nil, err
	}
	s := &Stack{o: o, cli: cli}
	svcs, err := s.Services(ctx)
	if err != nil {
		cli.Close()
		return nil, err
	}
	if len(svcs) == 0 {
		cli.Close()
		return nil, fmt.Errorf("docker stack: %s: no container with a role (label %s, or a roles mapping)", s.selection(), stack.LabelRole)
	}
	return s, nil
}

func (s *Stack) selection() string {
	if s.o.project != "" {
		return "compose project " + s.o.project
	}
	var parts []string
	for k, v := range s.o.selector {
		parts = append(parts, k+"="+v)
	}
	sort.Strings(parts)
	return "selector " + strings.Join(parts, ",")
}

func (s *Stack) filter() filters.Args {
	f := filters.NewArgs()
	if s.o.project != "" {
		f.Add("label", LabelComposeProject+"="+s.o.project)
	}
	for k, v := range s.o.selector {
		f.Add("label", k+"="+v)
	}
	return f
}

// Kind implements stack.Stack.
func (s *Stack) Kind() string { return Kind }

// RunID implements stack.Stack: nothing was created.
func (s *Stack) RunID() string { return "" }

// APIKey implements stack.Stack.
func (s *Stack) APIKey() string { return s.o.apiKey }

// ModelName implements stack.Stack.
func (s *Stack) ModelName() string { return s.o.modelName }

// Stop implements stack.Stack: it only closes the Docker client.
func (s *Stack) Stop(context.Context) error { return s.cli.Close() }

// Service implements stack.Stack.
func (s *Stack) Service(ctx context.Context, name string) (stack.Service, error) {
	svcs, err := s.Services(ctx)
	if err != nil {
		return stack.Service{}, err
	}
	for _, svc := range svcs {
		if svc.Name == name {
			return svc, nil
		}
	}
	return stack.Service{}, fmt.Errorf("service %q in %s: %w", name, s.selection(), stack.ErrNotFound)
}

// Services implements stack.Stack: the selection is listed and inspected
// now, so recreated containers are found under their service names.
func (s *Stack) Services(ctx context.Context) ([]stack.Service, error) {
	list, err := s.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: s.filter()})
	if err != nil {
		return nil, fmt.Errorf("docker stack: list %s: %w", s.selection(), err)
	}
	perService := map[string]int{}
	for _, c := range list {
		perService[composeService(c.Labels, c.Names)]++
	}
	var out []stack.Service
	for _, c := range list {
		svc, ok, err := s.service(ctx, c, perService)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, svc)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Role != out[j].Role {
			return out[i].Role < out[j].Role // gateway < model < monitor < proxy
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

func composeService(labels map[string]string, names []string) string {
	if s := labels[LabelComposeService]; s != "" {
		return s
	}
	if len(names) > 0 {
		return strings.TrimPrefix(names[0], "/")
	}
	return ""
}

func (s *Stack) service(ctx context.Context, c container.Summary, perService map[string]int) (stack.Service, bool, error) {
	cs := composeService(c.Labels, c.Names)
	role := stack.Role(c.Labels[stack.LabelRole])
	if role == "" {
		role = s.o.roles[cs]
	}
	if role == "" {
		s.o.logger.Debug("ignoring container without a role", "container", c.Names, "service", cs)
		return stack.Service{}, false, nil
	}
	name := c.Labels[stack.LabelService]
	if name == "" {
		name = cs
		if perService[cs] > 1 {
			n, _ := strconv.Atoi(c.Labels[LabelComposeNumber])
			name = fmt.Sprintf("%s-%d", cs, max(n-1, 0))
		}
	}
	ins, err := s.cli.ContainerInspect(ctx, c.ID)
	if err != nil {
		return stack.Service{}, false, fmt.Errorf("docker stack: inspect %s: %w", name, err)
	}
	port := s.lookupInt(s.o.ports, name, cs, role, DefaultPorts[role])
	health := s.lookupStr(s.o.healthPaths, name, cs, role, DefaultHealthPaths[role])
	svc := stack.Service{
		Name: name, Role: role, HealthPath: health, ModelName: s.o.modelName,
		InternalURL: fmt.Sprintf("http://%s:%d", cs, port),
		ContainerID: ins.ID, ContainerName: strings.TrimPrefix(ins.Name, "/"),
		Image: c.Image, ImageID: ins.Image,
	}
	if role == stack.RoleModel {
		svc.DeploymentID = name
		if id := c.Labels[LabelDeploymentID]; id != "" {
			svc.DeploymentID = id
		}
	}
	if ins.State != nil {
		svc.PID = ins.State.Pid
	}
	if ins.HostConfig != nil {
		svc.RestartPolicy = string(ins.HostConfig.RestartPolicy.Name)
	}
	if ins.NetworkSettings != nil {
		for _, b := range ins.NetworkSettings.Ports[nat.Port(fmt.Sprintf("%d/tcp", port))] {
			host := b.HostIP
			if host == "" || host == "0.0.0.0" || host == "::" {
				host = "127.0.0.1"
			}
			if strings.Contains(host, ":") {
				host = "[" + host + "]"
			}
			svc.URL = fmt.Sprintf("http://%s:%s", host, b.HostPort)
			break
		}
		if svc.URL == "" { // not published: the container's address on its first network
			for _, n := range ins.NetworkSettings.Networks {
				if n != nil && n.IPAddress != "" {
					svc.URL = fmt.Sprintf("http://%s:%d", n.IPAddress, port)
					break
				}
			}
		}
	}
	for _, purpose := range []string{stack.VolumeModels, stack.VolumeData} {
		dest := DefaultMounts[purpose]
		if d := c.Labels[LabelVolumePrefix+purpose]; d != "" {
			dest = d
		}
		for _, m := range ins.Mounts {
			if m.Destination == dest {
				svc.Volumes = append(svc.Volumes, stack.Volume{Purpose: purpose, Name: m.Name, HostPath: m.Source, MountPath: m.Destination})
			}
		}
	}
	return svc, true, nil
}

func (s *Stack) lookupInt(m map[string]int, name, cs string, role stack.Role, def int) int {
	for _, k := range []string{name, cs, string(role)} {
		if v, ok := m[k]; ok {
			return v
		}
	}
	return def
}

func (s *Stack) lookupStr(m map[string]string, name, cs string, role stack.Role, def string) string {
	for _, k := range []string{name, cs, string(role)} {
		if v, ok := m[k]; ok {
			return v
		}
	}
	return def
}
