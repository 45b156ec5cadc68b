// Package containers starts the embedded stack with testcontainers-go: one
// gateway and N model-server replicas (the fixtures, or other images), on a
// dedicated Docker network, with model volumes, a size-limited gateway data
// volume and, when the kernel has no sch_netem, a Toxiproxy between the
// gateway and each model server.
//
//	st, err := containers.Start(ctx, containers.WithReplicas(2))
//	defer st.Stop(context.WithoutCancel(ctx)) // also after an error: st may be partial
//
// Everything created carries the labels aiuptime.run, aiuptime.service and
// aiuptime.role; Stop (or Down from another process) removes it all.
package containers

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/docker/go-connections/nat"
	"github.com/testcontainers/testcontainers-go"

	"github.com/aiuptime/aiuptime/hostcaps"
	"github.com/aiuptime/aiuptime/internal/fixturebin"
	"github.com/aiuptime/aiuptime/internal/procfs"
	"github.com/aiuptime/aiuptime/internal/statedir"
	"github.com/aiuptime/aiuptime/stack"
	"github.com/aiuptime/aiuptime/stack/dockerhost"
)

// Kind is what Stack.Kind returns.
const Kind = "containers"

// Additional label keys.
const (
	// LabelStateDir records the host dir of a run's files, so Down from
	// another process finds the data volume mount.
	LabelStateDir = "aiuptime.statedir"
	// LabelOwner records the process that started the stack
	// (procfs.Ident.Label: PID.START.BOOT): when it is gone and the stack
	// was not kept, the stack is abandoned and `drill cleanup` removes it.
	LabelOwner = "aiuptime.owner"
	// LabelKeep marks a stack meant to outlive the process that started
	// it (`drill stack up`, `drill run --keep-stack`): only `drill stack
	// down` removes it.
	LabelKeep = "aiuptime.keep"
)

// RunMarker is the file in a run dir that says which run it belongs to:
// Down removes a run dir only when it holds the run's marker.
const RunMarker = ".aiuptime-run"

// Names of the non-model services.
const (
	ServiceGateway = "gateway"
	ServiceProxy   = "proxy"
	// proxyAlias is the proxy's name on the stack network.
	proxyAlias   = "toxiproxy"
	proxyAPIPort = "8474/tcp"
	// proxyListenBase is the first proxy listen port (model-0); each model
	// server gets the next one.
	proxyListenBase = 18000
	modelsMount     = "/models"
)

// DefaultStateDir is where run files live unless WithStateDir says
// otherwise: the runs directory of the harness's state directory
// ($AIUPTIME_STATE_DIR/runs, else /var/lib/aiuptime/runs), beside the
// revert journal, so a replay can prove a run's files are its own.
func DefaultStateDir() string { return filepath.Join(statedir.Dir(), "runs") }

// Timings are the durations of a Start, for reports and benchmarks.
type Timings struct {
	Images   time.Duration // building or finding the images
	Built    []string      // images that had to be built (not cached)
	Models   time.Duration // generating and copying model dirs
	Services time.Duration // starting containers until all healthy
	Total    time.Duration
}

// Capabilities are the stack capabilities the embedded stack offers.
var Capabilities = []stack.Capability{stack.CapLifecycle, stack.CapExec, stack.CapProcesses, stack.CapNetwork,
	stack.CapVolumes, stack.CapOwnership, stack.CapLogs, stack.CapReplace, stack.CapImages, stack.CapRollout}

// Stack is a running embedded stack. It implements stack.Stack,
// stack.SetupReporter and every capability in Capabilities (the container
// ones through the embedded *dockerhost.Host, which proves ownership by the
// run label).
type Stack struct {
	*dockerhost.Host

	o           options
	cli         *client.Client
	log         *slog.Logger
	runID       string
	runDir      string
	netName     string
	masterKey   string
	modelAPIKey string
	setup       stack.Setup
	kernel      hostcaps.Kernel
	images      map[stack.Role]string
	genBin      string
	timings     Timings

	mu        sync.Mutex
	order     []string
	svcs      map[string]*svc
	proxyAPI  string // host URL of the Toxiproxy API ("" without proxy)
	gwData    dataVol
	gwConfig  string // host path of the generated gateway config
	nextProxy int

	stopOnce sync.Once
	stopErr  error
	removed  Removed
}

var (
	_ stack.Stack         = (*Stack)(nil)
	_ stack.Replacer      = (*Stack)(nil)
	_ stack.SetupReporter = (*Stack)(nil)
	_ stack.Lifecycle     = (*Stack)(nil)
	_ stack.Processes     = (*Stack)(nil)
	_ stack.Networker     = (*Stack)(nil)
	_ stack.Volumes       = (*Stack)(nil)
	_ stack.Owner         = (*Stack)(nil)
	_ stack.Identifier    = (*Stack)(nil)
)

// svc is what the stack knows about one of its services.
type svc struct {
	name, containerName string
	role                stack.Role
	image               string
	port                nat.Port // container port of the API
	hostPort            int
	healthPath          string
	restart             string
	args                []string // extra args (after the provider's)
	env                 map[string]string
	modelVolume         string // docker volume name of the models volume
	modelVersion        string
	volumes             []stack.Volume
	proxy               *stack.Proxy
	proxyListen         int // the proxy's listen port for this service
	containerID         string
}

// Start builds what is missing and starts the stack. On error the returned
// Stack, when non-nil, holds what was created: call Stop on it.
func Start(ctx context.Context, opts ...Option) (*Stack, error) {
	t0 := time.Now()
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("containers: %w", err)
		}
	}
	if o.runID == "" {
		o.runID = newRunID()
	}
	if o.stateDir == "" {
		o.stateDir = DefaultStateDir()
	}
	owner, err := procfs.Self()
	if err != nil {
		return nil, fmt.Errorf("containers: %w", err)
	}
	o.owner = owner
	setupTestcontainers(o.logger)
	cli, err := dockerhost.Connect(ctx)
	if err != nil {
		return nil, err
	}
	runDir := filepath.Join(o.stateDir, o.runID)
	if err := claimRunDir(o.stateDir, o.runID); err != nil {
		cli.Close()
		return nil, err // nothing of ours to remove: the run id may be another stack's
	}
	s := &Stack{
		o: o, cli: cli, log: o.logger.With("run", o.runID), runID: o.runID,
		runDir:  runDir,
		netName: "aiuptime-" + o.runID,
		images:  map[stack.Role]string{},
		svcs:    map[string]*svc{},
		setup:   stack.Setup{ProxyMode: string(o.proxyMode), GPU: "simulated (fixture nvidia-smi shim)"},
	}
	if !o.fixtureServer() {
		s.setup.GPU = o.server.GPU
	}
	s.Host = dockerhost.New(cli, resolver{s})
	s.masterKey = o.masterKey
	if s.masterKey == "" {
		s.masterKey = "sk-" + randHex(24)
	}
	s.modelAPIKey = o.modelAPIKey
	if err := s.start(ctx); err != nil {
		return s, fmt.Errorf("start stack %s: %w", s.runID, err)
	}
	s.timings.Total = time.Since(t0)
	s.log.Info("stack up", "gateway", s.svcs[ServiceGateway].url(), "replicas", o.replicas,
		"proxy", s.setup.Proxy, "took", s.timings.Total.Round(time.Millisecond))
	return s, nil
}

// claimRunDir makes the run dir (0700, in a checked state directory) and
// its marker; a run dir that exists means the run id is taken.
func claimRunDir(stateDir, runID string) error {
	if err := statedir.Ensure(stateDir); err != nil {
		return fmt.Errorf("containers: %w", err)
	}
	dir := filepath.Join(stateDir, runID)
	if err := os.Mkdir(dir, 0o700); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("containers: run %s: %s exists: the run id is taken (remove that stack with `drill stack down --run %s`)", runID, dir, runID)
		}
		return fmt.Errorf("containers: run dir: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, RunMarker), []byte(runID+"\n"), 0o600); err != nil {
		_ = os.Remove(dir)
		return fmt.Errorf("containers: run dir: %w", err)
	}
	return nil
}

func (s *Stack) start(ctx context.Context) error {
	// Images.
	t := time.Now()
	if err := s.ensureImages(ctx); err != nil {
		return err
	}
	s.timings.Images = time.Since(t)

	s.decideProxy(ctx)

	// Network.
	if _, err := s.cli.NetworkCreate(ctx, s.netName, network.CreateOptions{
		Driver: "bridge",
		Labels: s.labels("network", ""),
	}); err != nil {
		return fmt.Errorf("create network %s: %w", s.netName, err)
	}

	// Model volumes.
	t = time.Now()
	src, err := s.modelSource(ctx, stack.ServiceSpec{})
	if err != nil {
		return err
	}
	for i := 0; i < s.o.replicas; i++ {
		name := fmt.Sprintf("model-%d", i)
		sv, err := s.newModelSvc(ctx, name, stack.ServiceSpec{}, src)
		if err != nil {
			return err
		}
		s.add(sv)
	}
	s.timings.Models = time.Since(t)

	// Containers: model servers in parallel, then the proxy, then the gateway.
	t = time.Now()
	var wg sync.WaitGroup
	errs := make([]error, s.o.replicas)
	for i, name := range s.modelNames() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.runModel(ctx, s.svcs[name], s.o.healthTimeout)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if s.setup.Proxy {
		if err := s.startProxy(ctx); err != nil {
			return err
		}
	}
	if err := s.startGateway(ctx); err != nil {
		return err
	}
	s.timings.Services = time.Since(t)
	return nil
}

// decideProxy takes the kernel probe (passed down, or run now) and decides
// whether a Toxiproxy goes in front of the model servers.
func (s *Stack) decideProxy(ctx context.Context) {
	if s.o.kernel != nil {
		s.kernel = *s.o.kernel
	} else if k, err := hostcaps.Probe(ctx); err == nil {
		s.kernel = k
	} else {
		s.kernel = k
		s.log.Warn("kernel capability probe failed: assuming no netem", "err", err)
	}
	s.setup.Proxy = NeedsProxy(s.o.proxyMode, s.kernel)
	switch {
	case s.kernel.Netem:
		s.setup.LatencyMechanism = stack.MechanismNetem
	case s.setup.Proxy:
		s.setup.LatencyMechanism = stack.MechanismToxiproxy
	default:
		s.setup.LatencyMechanism = stack.MechanismNone
	}
	s.log.Info("capabilities", "netem", s.kernel.Netem, "netem_detail", s.kernel.Why("netem"), "proxy", s.setup.Proxy)
}

func (s *Stack) ensureImages(ctx context.Context) error {
	need := []struct {
		role    stack.Role
		key     string
		fixture string
	}{
		{stack.RoleModel, string(stack.RoleModel), FixtureModelServer},
		{stack.RoleGateway, ServiceGateway, FixtureGateway},
		{stack.RoleProxy, ServiceProxy, FixtureToxiproxy},
	}
	for _, n := range need {
		if c, ok := s.o.services[n.key]; ok && c.Image != "" {
			s.images[n.role] = c.Image
			continue
		}
		if n.role == stack.RoleModel && !s.o.fixtureServer() {
			if err := s.serverImage(ctx); err != nil {
				return err
			}
			continue
		}
		if n.role == stack.RoleProxy && s.o.proxyMode == ProxyNever {
			continue
		}
		b, err := EnsureImage(ctx, s.cli, s.log, n.fixture)
		if err != nil {
			return err
		}
		if b.Built {
			s.timings.Built = append(s.timings.Built, b.Tag)
		}
		s.images[n.role] = b.Tag
	}
	// gen-model runs on the host: the model server binary must exist even
	// when the model image is not the fixture.
	gen, err := fixturebin.Path(ctx, fixturebin.ModelServer)
	if err != nil {
		return err
	}
	s.genBin = gen
	return nil
}

// serverImage is the registered image of a model server kind that is not
// the simulator: it is built by the Makefile (never pulled), so a missing
// one is named with the command that builds it.
func (s *Stack) serverImage(ctx context.Context) error {
	img := s.o.server.Image
	if img == "" {
		return fmt.Errorf("model server %s: no image: give services.model.image", s.o.server.Name)
	}
	if _, err := s.cli.ImageInspect(ctx, img); err != nil {
		return fmt.Errorf("model server %s: image %s: %w (build it with `make %s-image`; nothing can be pulled here)",
			s.o.server.Name, img, err, s.o.server.Name)
	}
	s.images[stack.RoleModel] = img
	return nil
}

func (s *Stack) labels(service string, role stack.Role) map[string]string {
	l := map[string]string{
		stack.LabelRun:     s.runID,
		stack.LabelService: service,
		LabelStateDir:      s.o.stateDir,
		LabelOwner:         s.o.owner.Label(),
	}
	if s.o.keep {
		l[LabelKeep] = "true"
	}
	if role != "" {
		l[stack.LabelRole] = string(role)
	}
	if role == stack.RoleModel && s.setup.Proxy {
		// The model server is reached through a Toxiproxy proxy of its
		// name: an attached view of the run (doctor) finds its toxics.
		l[stack.LabelProxy] = service
	}
	return l
}

func (s *Stack) add(sv *svc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.svcs[sv.name]; !ok {
		s.order = append(s.order, sv.name)
	}
	s.svcs[sv.name] = sv
}

func (s *Stack) modelNames() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, n := range s.order {
		if s.svcs[n].role == stack.RoleModel {
			out = append(out, n)
		}
	}
	return out
}

// networkOpt puts a container on the stack network under alias.
func (s *Stack) networkOpt(alias string) testcontainers.CustomizeRequestOption {
	return func(req *testcontainers.GenericContainerRequest) error {
		req.Networks = []string{s.netName}
		req.NetworkAliases = map[string][]string{s.netName: {alias}}
		return nil
	}
}

// hostConfigOpt publishes the API port on 127.0.0.1:hostPort, sets the
// restart policy and the mounts.
func hostConfigOpt(port nat.Port, hostPort int, restart string, mounts []mount.Mount) testcontainers.CustomizeRequestOption {
	return func(req *testcontainers.GenericContainerRequest) error {
		prev := req.HostConfigModifier
		req.HostConfigModifier = func(hc *container.HostConfig) {
			if prev != nil {
				prev(hc)
			}
			hc.PortBindings = nat.PortMap{port: {{HostIP: "127.0.0.1", HostPort: fmt.Sprint(hostPort)}}}
			if restart != "" {
				hc.RestartPolicy = container.RestartPolicy{Name: container.RestartPolicyMode(restart)}
			}
			hc.Mounts = append(hc.Mounts, mounts...)
		}
		return nil
	}
}
