package containers

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/client"
	"github.com/docker/go-connections/nat"
	"github.com/testcontainers/testcontainers-go"

	"github.com/aiuptime/aiuptime/fixtures/gateway"
	"github.com/aiuptime/aiuptime/hostcaps"
	"github.com/aiuptime/aiuptime/internal/gwconfig"
	"github.com/aiuptime/aiuptime/stack"
	"github.com/aiuptime/aiuptime/stack/dockerhost"
)

// url is the host URL of a service.
func (sv *svc) url() string {
	if sv == nil {
		return ""
	}
	return fmt.Sprintf("http://127.0.0.1:%d", sv.hostPort)
}

// internalURL is how the gateway reaches the service: through its proxy
// when there is one.
func (sv *svc) internalURL() string {
	if sv.proxyListen != 0 {
		return fmt.Sprintf("http://%s:%d", proxyAlias, sv.proxyListen)
	}
	return fmt.Sprintf("http://%s:%s", sv.name, sv.port.Port())
}

func (s *Stack) startGateway(ctx context.Context) error {
	cfg := s.o.config(ServiceGateway, stack.RoleGateway)
	port, err := hostPort(cfg.HostPort)
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	sv := &svc{
		name: ServiceGateway, containerName: "aiuptime-" + s.runID + "-" + ServiceGateway, role: stack.RoleGateway,
		image: s.images[stack.RoleGateway], port: nat.Port(gateway.Port), hostPort: port,
		healthPath: gateway.ReadinessPath, restart: DefaultRestartPolicy, args: cfg.Args, env: cfg.Env,
	}
	if cfg.HealthPath != "" {
		sv.healthPath = cfg.HealthPath
	}
	if cfg.RestartPolicy != "" {
		sv.restart = cfg.RestartPolicy
	}
	// Gateway config from the model services.
	var deps []gwconfig.Upstream
	for _, name := range s.modelNames() {
		m := s.svcs[name]
		deps = append(deps, gwconfig.Upstream{ID: m.name, APIBase: m.internalURL() + "/v1",
			Model: s.o.served(), Provider: s.o.server.Provider})
	}
	b, err := gwconfig.Render(s.o.modelName, s.masterKey, s.modelAPIKey, gatewayDBPath, deps)
	if err != nil {
		return err
	}
	cfgPath := filepath.Join(s.runDir, "gateway.yaml")
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		return fmt.Errorf("gateway config: %w", err)
	}
	// Data volume: size-limited when loop devices work.
	dataMount, err := s.dataVolume(ctx)
	if err != nil {
		return err
	}
	s.gwData, s.gwConfig = dataMount, cfgPath
	sv.volumes = []stack.Volume{dataMount.vol}
	s.add(sv)
	return s.runGateway(ctx, sv, s.o.healthTimeout)
}

// runGateway starts a gateway container for sv with the stack's gateway
// config and data volume (shared by every gateway instance: the SQLite file
// is opened in WAL mode, which allows several processes on one host).
func (s *Stack) runGateway(ctx context.Context, sv *svc, timeout time.Duration) error {
	args := []string{"--config", gateway.ConfigPath, "--port", sv.port.Port()}
	args = append(args, sv.args...)
	s.log.Info("starting", "service", sv.name, "image", sv.image, "port", sv.hostPort)
	c, err := gateway.Run(ctx, sv.image,
		testcontainers.WithName(sv.containerName),
		testcontainers.WithCmd(args...),
		testcontainers.WithEnv(sv.env),
		testcontainers.WithLabels(s.labels(sv.name, stack.RoleGateway)),
		s.networkOpt(sv.name),
		hostConfigOpt(sv.port, sv.hostPort, sv.restart, []mount.Mount{
			s.gwData.mount,
			{Type: mount.TypeBind, Source: s.gwConfig, Target: gateway.ConfigPath, ReadOnly: true},
		}),
		testcontainers.WithWaitStrategy(&healthWait{service: sv.name, port: sv.port, path: sv.healthPath, timeout: timeout, log: s.log}),
	)
	if c != nil {
		sv.containerID = c.GetContainerID()
	}
	return classifyStartErr(sv.name, sv.hostPort, err)
}

// newGatewaySvc prepares another gateway instance named name.
func (s *Stack) newGatewaySvc(name string, spec stack.ServiceSpec) (*svc, error) {
	cfg := s.o.config(name, stack.RoleGateway)
	port, err := hostPort(cfg.HostPort)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	sv := &svc{
		name: name, containerName: "aiuptime-" + s.runID + "-" + name, role: stack.RoleGateway,
		image: s.images[stack.RoleGateway], port: nat.Port(gateway.Port), hostPort: port,
		healthPath: gateway.ReadinessPath, restart: DefaultRestartPolicy, args: cfg.Args, env: cfg.Env,
		volumes: []stack.Volume{s.gwData.vol},
	}
	if cfg.Image != "" {
		sv.image = cfg.Image
	}
	if cfg.HealthPath != "" {
		sv.healthPath = cfg.HealthPath
	}
	applySpec(sv, spec)
	return sv, nil
}

type dataVol struct {
	vol   stack.Volume
	mount mount.Mount
}

// dataVolume makes the gateway's data volume: an ext4 loop mount of
// o.dataVolumeSize under the run dir, or a plain Docker volume (and
// disk-full unsupported) when loop devices are unavailable.
func (s *Stack) dataVolume(ctx context.Context) (dataVol, error) {
	dir := filepath.Join(s.runDir, "data")
	dev, err := mountLoopExt4(ctx, filepath.Join(s.runDir, "data.img"), dir, s.o.dataVolumeSize)
	if err == nil {
		s.setup.DiskFull = true
		s.setup.DiskFullDetail = fmt.Sprintf("ext4 on %s, %d MiB", dev, s.o.dataVolumeSize>>20)
		return dataVol{
			vol:   stack.Volume{Purpose: stack.VolumeData, HostPath: dir, MountPath: "/data"},
			mount: mount.Mount{Type: mount.TypeBind, Source: dir, Target: "/data"},
		}, nil
	}
	s.setup.DiskFull = false
	s.setup.DiskFullDetail = "plain Docker volume (no size limit): " + err.Error()
	s.log.Warn("size-limited data volume unavailable; disk-full faults are unsupported", "err", err)
	_ = os.Remove(filepath.Join(s.runDir, "data.img"))
	name := "aiuptime-" + s.runID + "-gateway-data"
	v, verr := s.cli.VolumeCreate(ctx, volumeCreate(name, s.labels(ServiceGateway, stack.RoleGateway)))
	if verr != nil {
		return dataVol{}, fmt.Errorf("gateway: create data volume: %w", verr)
	}
	return dataVol{
		vol:   stack.Volume{Purpose: stack.VolumeData, Name: name, HostPath: v.Mountpoint, MountPath: "/data"},
		mount: mount.Mount{Type: mount.TypeVolume, Source: name, Target: "/data"},
	}, nil
}

// hostPort returns want, or a free 127.0.0.1 port when want is 0. The
// port is fixed at creation so a restarted container keeps its URL.
func hostPort(want int) (int, error) {
	if want != 0 {
		return want, nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// classifyStartErr names the service, and says so when its port is taken.
func classifyStartErr(name string, port int, err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if strings.Contains(msg, "port is already allocated") || strings.Contains(msg, "address already in use") {
		return fmt.Errorf("%s: host port 127.0.0.1:%d is already in use: %w", name, port, err)
	}
	if strings.Contains(msg, "never became healthy") {
		return err
	}
	return fmt.Errorf("%s: %w", name, err)
}

// Kind implements stack.Stack.
func (s *Stack) Kind() string { return Kind }

// RunID implements stack.Stack.
func (s *Stack) RunID() string { return s.runID }

// Identity implements stack.Identifier: the run, locked by its id, owning
// what carries its run label.
func (s *Stack) Identity() stack.Identity {
	return stack.Identity{Key: "run-" + s.runID, Run: s.runID, Labels: map[string]string{stack.LabelRun: s.runID}, Text: "embedded run " + s.runID}
}

// APIKey is the gateway master key, random per run (never log it).
func (s *Stack) APIKey() string { return s.masterKey }

// ModelAPIKey is the key the model servers require ("" for none).
func (s *Stack) ModelAPIKey() string { return s.modelAPIKey }

// ModelName implements stack.Stack.
func (s *Stack) ModelName() string { return s.o.modelName }

// Setup implements stack.SetupReporter: the proxy decision and the data
// volume's size limit.
func (s *Stack) Setup() stack.Setup { return s.setup }

// Kernel is the kernel capability probe the stack was set up with.
func (s *Stack) Kernel() hostcaps.Kernel { return s.kernel }

// Timings returns how long Start took, by phase.
func (s *Stack) Timings() Timings { return s.timings }

// ProxyAPIURL is the host URL of the Toxiproxy API ("" without a proxy).
func (s *Stack) ProxyAPIURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proxyAPI
}

// Network is the name of the stack's Docker network.
func (s *Stack) Network() string { return s.netName }

// RunDir is the host dir of the run's files (gateway config, data volume).
func (s *Stack) RunDir() string { return s.runDir }

// Services implements stack.Stack; containers are re-inspected now.
func (s *Stack) Services(ctx context.Context) ([]stack.Service, error) {
	s.mu.Lock()
	names := append([]string(nil), s.order...)
	s.mu.Unlock()
	out := make([]stack.Service, 0, len(names))
	for _, n := range names {
		svc, err := s.Service(ctx, n)
		if err != nil {
			return nil, err
		}
		out = append(out, svc)
	}
	return out, nil
}

// Service implements stack.Stack; the container is re-inspected now.
func (s *Stack) Service(ctx context.Context, name string) (stack.Service, error) {
	s.mu.Lock()
	sv, ok := s.svcs[name]
	var out stack.Service
	if ok {
		out = stack.Service{
			Name: sv.name, Role: sv.role, URL: sv.url(), HealthPath: sv.healthPath,
			ContainerName: sv.containerName, Image: sv.image, RestartPolicy: sv.restart,
		}
		switch sv.role {
		case stack.RoleModel:
			out.InternalURL = sv.internalURL()
			out.ModelName = s.o.served()
			out.DeploymentID = sv.name
			out.Server = s.o.server.Name
		case stack.RoleGateway:
			out.InternalURL = fmt.Sprintf("http://%s:%s", sv.name, sv.port.Port())
			out.ModelName = s.o.modelName
		case stack.RoleProxy:
			out.InternalURL = fmt.Sprintf("http://%s:%s", proxyAlias, sv.port.Port())
		}
	}
	s.mu.Unlock()
	if !ok {
		return stack.Service{}, fmt.Errorf("service %q: %w", name, stack.ErrNotFound)
	}
	ins, err := s.cli.ContainerInspect(ctx, out.ContainerName)
	if client.IsErrNotFound(err) {
		// Removed (a container-remove fault, or mid-replace): the service
		// still exists, without a container for now.
		return out, nil
	}
	if err != nil {
		return out, fmt.Errorf("inspect %s: %w", name, err)
	}
	out.ContainerID = ins.ID
	out.ImageID = ins.Image
	if ins.HostConfig != nil && ins.HostConfig.RestartPolicy.Name != "" {
		out.RestartPolicy = string(ins.HostConfig.RestartPolicy.Name)
	}
	if ins.NetworkSettings != nil {
		for _, b := range ins.NetworkSettings.Ports[nat.Port(portOf(s, name))] {
			if p, err := strconv.Atoi(b.HostPort); err == nil && b.HostIP == "127.0.0.1" {
				out.URL = fmt.Sprintf("http://127.0.0.1:%d", p)
			}
		}
	}
	return out, nil
}

// resolver maps the stack's services to their containers for the
// capabilities of the embedded *dockerhost.Host.
type resolver struct{ s *Stack }

func (r resolver) svc(service string) (svc, bool) {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	sv, ok := r.s.svcs[service]
	if !ok {
		return svc{}, false
	}
	return *sv, true
}

// ContainerRef implements dockerhost.Resolver.
func (r resolver) ContainerRef(_ context.Context, service string) (string, error) {
	sv, ok := r.svc(service)
	if !ok {
		return "", fmt.Errorf("service %q of run %s: %w", service, r.s.runID, stack.ErrNotFound)
	}
	return sv.containerName, nil
}

// OwnsContainer implements dockerhost.Resolver: the run label proves it.
func (r resolver) OwnsContainer(ins container.InspectResponse) error {
	return dockerhost.CheckLabel(ins, stack.LabelRun, r.s.runID)
}

// MountPath implements dockerhost.Resolver.
func (r resolver) MountPath(_ container.InspectResponse, service, purpose string) string {
	sv, ok := r.svc(service)
	if !ok {
		return ""
	}
	if purpose == stack.VolumeConfig && sv.role == stack.RoleGateway {
		return gateway.ConfigPath
	}
	for _, v := range sv.volumes {
		if v.Purpose == purpose {
			return v.MountPath
		}
	}
	return ""
}

// Proxy implements dockerhost.Resolver.
func (r resolver) Proxy(_ context.Context, service string) (*stack.Proxy, error) {
	sv, ok := r.svc(service)
	if !ok || sv.proxy == nil {
		return nil, nil
	}
	p := *sv.proxy
	return &p, nil
}

func portOf(s *Stack, name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.svcs[name].port)
}
