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
	"github.com/aiuptime/aiuptime/stack/dockerhost"
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

// Default API ports, health paths and volume mount paths by role (the
// config default is where LiteLLM's docs mount config.yaml).
var (
	DefaultPorts       = stack.DefaultPorts
	DefaultHealthPaths = stack.DefaultHealthPaths
	DefaultMounts      = map[string]string{stack.VolumeModels: "/models", stack.VolumeData: "/data", stack.VolumeConfig: "/app/config.yaml"}
)

// Capabilities are the stack capabilities an attached deployment offers:
// everything but replacing services (nothing is created).
var Capabilities = []stack.Capability{stack.CapLifecycle, stack.CapExec, stack.CapProcesses, stack.CapNetwork,
	stack.CapVolumes, stack.CapOwnership, stack.CapLogs, stack.CapImages}

type options struct {
	project     string
	selector    map[string]string
	roles       map[string]stack.Role
	ports       map[string]int
	healthPaths map[string]string
	apiKey      string
	modelName   string
	server      stack.Server
	servedModel string
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

// WithModelServer says what kind of server the model containers run
// (stack.ServerNames; "" is vllm): their default port, health path and
// models mount, where their version is and which process is the engine.
func WithModelServer(name string) Option {
	return func(o *options) error {
		s, err := stack.FindServer(name)
		o.server = s
		return err
	}
}

// WithServedModel sets the name the model servers serve ("": the model
// name), for requests sent to them directly.
func WithServedModel(name string) Option {
	return func(o *options) error { o.servedModel = name; return nil }
}

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(o *options) error { o.logger = l; return nil } }

// Stack is an attached deployment. Its capabilities come from the embedded
// *dockerhost.Host; a container belongs to it when it carries the compose
// project's or the selector's labels.
type Stack struct {
	*dockerhost.Host

	o   options
	cli *client.Client
}

var (
	_ stack.Stack      = (*Stack)(nil)
	_ stack.Lifecycle  = (*Stack)(nil)
	_ stack.Processes  = (*Stack)(nil)
	_ stack.Networker  = (*Stack)(nil)
	_ stack.Volumes    = (*Stack)(nil)
	_ stack.Owner      = (*Stack)(nil)
	_ stack.Identifier = (*Stack)(nil)
	_ stack.Mover      = (*Stack)(nil)
)

// Attach connects to Docker and checks that the selection has at least
// one service with a role.
func Attach(ctx context.Context, opts ...Option) (*Stack, error) {
	vllm, _ := stack.LookupServer(stack.ServerVLLM)
	o := options{logger: slog.New(slog.DiscardHandler), server: vllm}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("docker stack: %w", err)
		}
	}
	if (o.project == "") == (len(o.selector) == 0) {
		return nil, errors.New("docker stack: need exactly one of a compose project and a label selector")
	}
	cli, err := dockerhost.Connect(ctx)
	if err != nil {
		return nil, err
	}
	s := &Stack{o: o, cli: cli}
	s.Host = dockerhost.New(cli, resolver{s})
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

// AddressesMove implements stack.Mover: a container publishing a port
// without a fixed host port gets a new one from Docker each time it
// starts, so its URL must be read again (Services inspects it anew).
func (s *Stack) AddressesMove() bool { return true }

// RunID implements stack.Stack: nothing was created.
func (s *Stack) RunID() string { return "" }

// Identity implements stack.Identifier: the compose project or the label
// selector, which every container of the stack carries. A selector of one
// embedded run's label is that run (one lock for both views of it).
func (s *Stack) Identity() stack.Identity {
	if s.o.project != "" {
		return stack.Identity{Key: "compose-" + s.o.project, Labels: map[string]string{LabelComposeProject: s.o.project},
			Text: "compose project " + s.o.project}
	}
	labels := make(map[string]string, len(s.o.selector))
	for k, v := range s.o.selector {
		labels[k] = v
	}
	if run, ok := labels[stack.LabelRun]; ok && len(labels) == 1 && stack.ValidRunID(run) {
		return stack.Identity{Key: "run-" + run, Run: run, Labels: labels, Text: "embedded run " + run}
	}
	sel := strings.TrimPrefix(s.selection(), "selector ")
	return stack.Identity{Key: "selector-" + sel, Labels: labels, Text: "selector " + sel}
}

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
	defPort, defHealth := DefaultPorts[role], DefaultHealthPaths[role]
	if role == stack.RoleModel {
		defPort, defHealth = s.o.server.Port, s.o.server.HealthPath
	}
	port := s.lookupInt(s.o.ports, name, cs, role, defPort)
	health := s.lookupStr(s.o.healthPaths, name, cs, role, defHealth)
	svc := stack.Service{
		Name: name, Role: role, HealthPath: health, ModelName: s.o.modelName,
		InternalURL: fmt.Sprintf("http://%s:%d", cs, port),
		ContainerID: ins.ID, ContainerName: strings.TrimPrefix(ins.Name, "/"),
		Image: c.Image, ImageID: ins.Image,
	}
	if role == stack.RoleModel {
		svc.Server = s.o.server.Name
		if s.o.servedModel != "" {
			svc.ModelName = s.o.servedModel
		}
		svc.DeploymentID = name
		if id := c.Labels[LabelDeploymentID]; id != "" {
			svc.DeploymentID = id
		}
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

// resolver maps an attached deployment's services to containers for the
// capabilities of the embedded *dockerhost.Host.
type resolver struct{ s *Stack }

// ContainerRef implements dockerhost.Resolver: a service name, or the
// compose service or container name of any container in the selection
// (a database sidecar without a role can still be exec'd for a backup).
func (r resolver) ContainerRef(ctx context.Context, service string) (string, error) {
	if svc, err := r.s.Service(ctx, service); err == nil {
		return svc.ContainerID, nil
	}
	list, err := r.s.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: r.s.filter()})
	if err != nil {
		return "", fmt.Errorf("docker stack: list %s: %w", r.s.selection(), err)
	}
	for _, c := range list {
		if composeService(c.Labels, c.Names) == service {
			return c.ID, nil
		}
		for _, n := range c.Names {
			if strings.TrimPrefix(n, "/") == service {
				return c.ID, nil
			}
		}
	}
	return "", fmt.Errorf("service %q in %s: %w", service, r.s.selection(), stack.ErrNotFound)
}

// OwnsContainer implements dockerhost.Resolver: the container carries the
// compose project's label or every label of the selector.
func (r resolver) OwnsContainer(ins container.InspectResponse) error {
	if r.s.o.project != "" {
		return dockerhost.CheckLabel(ins, LabelComposeProject, r.s.o.project)
	}
	for k, v := range r.s.o.selector {
		if err := dockerhost.CheckLabel(ins, k, v); err != nil {
			return err
		}
	}
	return nil
}

// MountPath implements dockerhost.Resolver: the aiuptime.volume.<purpose>
// label, else the model server kind's models mount, else DefaultMounts.
func (r resolver) MountPath(ins container.InspectResponse, _, purpose string) string {
	if ins.Config != nil {
		if d := ins.Config.Labels[LabelVolumePrefix+purpose]; d != "" {
			return d
		}
	}
	if purpose == stack.VolumeModels {
		return r.s.o.server.ModelsMount
	}
	return DefaultMounts[purpose]
}

// Proxy implements dockerhost.Resolver: a container labelled
// aiuptime.proxy=NAME is reached through proxy NAME of the selection's
// proxy service (an embedded run viewed by doctor); others have none.
func (r resolver) Proxy(ctx context.Context, service string) (*stack.Proxy, error) {
	svcs, err := r.s.Services(ctx)
	if err != nil {
		return nil, err
	}
	var name, api string
	for _, s := range svcs {
		if s.Role == stack.RoleProxy && s.URL != "" {
			api = s.URL
		}
		if s.Name == service {
			ins, err := r.s.cli.ContainerInspect(ctx, s.ContainerID)
			if err == nil && ins.Config != nil {
				name = ins.Config.Labels[stack.LabelProxy]
			}
		}
	}
	if name == "" || api == "" {
		return nil, nil
	}
	return &stack.Proxy{APIURL: api, Name: name}, nil
}
