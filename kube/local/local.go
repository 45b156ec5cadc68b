// Package local starts and stops a local Kubernetes cluster for tests and
// drills, tier 1 of issue 15: etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler and kwok (simulated nodes and pods), all on 127.0.0.1,
// from the binaries `make kube` builds (bin/kube/ or $AIUPTIME_KUBE_BIN).
//
// The cluster lives in a state dir it owns: its PKI (a CA, the apiserver's
// serving certificate, client certificates, the service-account key pair),
// an admin kubeconfig, etcd's data, the components' logs, and cluster.json,
// which records every process (pid, start time, command line, ports). Each
// process leads its own process group and outlives the process that ran Up,
// so Down (and `drill cleanup`) can stop them from anywhere, even after the
// starter was SIGKILLed, and never signals a pid that is no longer ours.
//
// With WithRealNode, Up also starts tier 2: one real node, aiuptime-node,
// on this host (root): Debian's containerd with a private config (socket,
// root, state and runc's state under the state dir; a sandbox image built
// and imported locally, as there is no registry), the kubelet (cgroupfs,
// under a cgroup root of the cluster's own) and kube-proxy (iptables), on a
// CNI bridge named for the cluster (aiuk-<hash of the state dir>) with a
// free 10.244.X.0/24. Pods run images imported from Docker (WithImages,
// imagePullPolicy Never) and are reached from the host at their IP or a
// Service's ClusterIP. Down removes all the node added to the host: the
// pods' processes and shims, the mounts under the state dir, the bridge and
// its veths, the KUBE-* and CNI-* iptables chains, the cgroups, the files
// its programs leave in fixed places, the sysctls the kubelet changed;
// AuditAll and AuditNode report any of it left behind. One real node runs
// per host (the iptables chains are global): a second Up is refused.
//
// The package uses no Kubernetes library: os/exec, crypto/x509, net/http,
// netlink (the node's bridge) and a YAML parser (for the Chaos Mesh CRDs'
// names) only.
package local

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/aiuptime/aiuptime/internal/fixturebin"
	"github.com/aiuptime/aiuptime/internal/statedir"
)

// Defaults of the options.
const (
	// DefaultName names the cluster (and its state dir) unless WithName.
	DefaultName = "default"
	// DefaultStartTimeout bounds Up, from the first process to every
	// component healthy. A cold start on a busy 2-core machine takes
	// seconds; the bound is for a component that never comes up.
	DefaultStartTimeout = 3 * time.Minute
	// DefaultStopGrace is how long Down waits after SIGTERM before SIGKILL.
	DefaultStopGrace = 15 * time.Second
)

// BinEnv names the environment variable that points at the directory of
// the cluster's binaries; without it they are looked up in $AIUPTIME_BIN/kube
// and then bin/kube of the source checkout.
const BinEnv = "AIUPTIME_KUBE_BIN"

// StateFile is the file in the state dir that records the cluster.
const StateFile = "cluster.json"

// StagesFile is kwok's default Stage YAMLs, next to the binaries.
const StagesFile = "kwok-stages.yaml"

// FakeNodeAnnotation is the annotation (key=value) that makes kwok manage a
// Node: kwok is started with --manage-nodes-with-annotation-selector set to
// it and --manage-all-nodes=false, so real kubelets' nodes are left alone.
const FakeNodeAnnotation = "kwok.x-k8s.io/node=fake"

// The components, in start order; Down stops them in reverse.
const (
	Etcd              = "etcd"
	APIServer         = "kube-apiserver"
	ControllerManager = "kube-controller-manager"
	Scheduler         = "kube-scheduler"
	Kwok              = "kwok"
)

var components = []string{Etcd, APIServer, ControllerManager, Scheduler, Kwok}

// Errors callers branch on.
var (
	// ErrNoBinaries means the binaries are not built: run `make kube`.
	ErrNoBinaries = errors.New("kubernetes binaries not found: run `make kube`")
	// ErrRunning means the state dir already holds a running cluster.
	ErrRunning = errors.New("a cluster is already running in the state dir")
	// ErrNotOurs refuses to remove a state dir that has no cluster.json.
	ErrNotOurs = errors.New("not a local cluster's state dir (no " + StateFile + ")")
)

// DefaultStateDir is the state dir of the cluster called name:
// <state dir>/kube/<name>, by default /var/lib/aiuptime/kube/<name>.
func DefaultStateDir(name string) string { return filepath.Join(statedir.Dir(), "kube", name) }

// BinDir returns where the binaries are looked up: $AIUPTIME_KUBE_BIN, else
// $AIUPTIME_BIN/kube, else bin/kube in the source checkout (found from the
// working directory).
func BinDir() (string, error) {
	if d := os.Getenv(BinEnv); d != "" {
		return d, nil
	}
	if d := os.Getenv(fixturebin.BinEnv); d != "" {
		return filepath.Join(d, "kube"), nil
	}
	root, err := fixturebin.ModuleRoot()
	if err != nil {
		return "", fmt.Errorf("%w (%w; or set $%s)", ErrNoBinaries, err, BinEnv)
	}
	return filepath.Join(root, "bin", "kube"), nil
}

// CheckBinaries returns an error wrapping ErrNoBinaries that names what is
// missing in dir.
func CheckBinaries(dir string) error {
	var missing []string
	for _, f := range append(append([]string{}, components...), StagesFile) {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.IsDir() {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w (missing in %s: %v)", ErrNoBinaries, dir, missing)
	}
	return nil
}

// State is what cluster.json records.
type State struct {
	// Name is the cluster's name.
	Name string `json:"name"`
	// Dir is the state dir.
	Dir string `json:"dir"`
	// Server is the apiserver's URL.
	Server string `json:"server"`
	// Kubeconfig is the admin kubeconfig (system:masters).
	Kubeconfig string `json:"kubeconfig"`
	// Owner is the pid of the process that ran Up.
	Owner int `json:"owner_pid"`
	// StartedAt is when Up began.
	StartedAt time.Time `json:"started_at"`
	// ReadyAfter is how long the apiserver took to answer /readyz 200,
	// from the start of etcd.
	ReadyAfter time.Duration `json:"ready_after_ns,omitempty"`
	// Processes are the cluster's processes, in start order.
	Processes []*Process `json:"processes"`
	// Node is the real node (WithRealNode), nil without one.
	Node *NodeState `json:"node,omitempty"`
}

// expected is how many processes a whole cluster of this state runs.
func (s *State) expected() int {
	if s.Node != nil {
		return len(components) + len(nodeComponents)
	}
	return len(components)
}

// Cluster is a running local cluster.
type Cluster struct {
	State
	log *slog.Logger
}

// Down stops the cluster and removes its state dir (see Down).
func (c *Cluster) Down(ctx context.Context, opts ...Option) error {
	return Down(ctx, c.Dir, append([]Option{WithLogger(c.log)}, opts...)...)
}

// HTTPClient returns a client that trusts the cluster's CA and presents
// the admin client certificate.
func (c *Cluster) HTTPClient() (*http.Client, error) { return AdminClient(c.Kubeconfig) }

// AdminClient returns an HTTP client for the apiserver of a kubeconfig
// written by Up: it trusts the cluster's CA and presents the client
// certificate.
func AdminClient(kubeconfig string) (*http.Client, error) {
	kc, err := ReadKubeconfig(kubeconfig)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(kc.Clusters[0].Cluster.CertificateAuthorityData) {
		return nil, fmt.Errorf("kubeconfig %s: no CA certificate", kubeconfig)
	}
	cert, err := tls.X509KeyPair(kc.Users[0].User.ClientCertificateData, kc.Users[0].User.ClientKeyData)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: client certificate: %w", kubeconfig, err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}, nil
}

// Up starts a cluster in its state dir and returns when the apiserver
// answers /readyz, every other component its health endpoint, and the
// controllers have made the default ServiceAccount (pods can be created). When it
// fails half-way it returns what it started with the error: call Down on
// it (or on the state dir) to clean up.
func Up(ctx context.Context, opts ...Option) (*Cluster, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	if o.binDir == "" {
		if o.binDir, err = BinDir(); err != nil {
			return nil, err
		}
	}
	if err := CheckBinaries(o.binDir); err != nil {
		return nil, err
	}
	crdDir := filepath.Join(o.binDir, ChaosMeshCRDsDir)
	if o.chaosMesh {
		if _, err := CRDFiles(crdDir); err != nil {
			return nil, err
		}
	}
	if o.realNode {
		unlock, err := lockNodeStart(ctx)
		if err != nil {
			return nil, err
		}
		defer unlock()
		ctx = withNodeLock(ctx) // a Down on the way (remains, failure) must not wait for it
		if err := checkNodeHost(o.binDir); err != nil {
			return nil, err
		}
	}
	if err := prepareDir(ctx, o); err != nil {
		return nil, err
	}
	c := &Cluster{State: State{Name: o.name, Dir: o.stateDir, Owner: os.Getpid(), StartedAt: time.Now(),
		Kubeconfig: filepath.Join(o.stateDir, adminKubeconfig)}, log: o.log}
	if err := c.save(); err != nil { // first, so Down recognises the dir whatever happens next
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, o.startTimeout)
	defer cancel()
	if err := c.start(ctx, o); err != nil {
		return c, fmt.Errorf("start local cluster %s: %w", o.name, err)
	}
	if o.chaosMesh {
		t := time.Now()
		names, err := InstallCRDs(ctx, c.Kubeconfig, crdDir)
		if err != nil {
			return c, fmt.Errorf("local cluster %s: chaos mesh crds: %w", o.name, err)
		}
		o.log.Info("chaos mesh crds established", "crds", len(names), "took", time.Since(t).Round(time.Millisecond))
	}
	o.log.Info("local cluster up", "name", o.name, "server", c.Server, "kubeconfig", c.Kubeconfig,
		"ready_after", c.ReadyAfter.Round(time.Millisecond), "took", time.Since(c.StartedAt).Round(time.Millisecond))
	return c, nil
}

// prepareDir creates the state dir, or takes over one whose cluster is not
// running any more (after removing what that left).
func prepareDir(ctx context.Context, o *options) error {
	st, err := Load(o.stateDir)
	switch {
	case err == nil:
		for _, p := range st.Processes {
			if p.Ours() {
				return fmt.Errorf("%w: %s (pid %d); run `drill kube down` first", ErrRunning, o.stateDir, p.PID)
			}
		}
		o.log.Info("removing the remains of a stopped cluster", "dir", o.stateDir)
		if err := Down(ctx, o.stateDir, WithLogger(o.log)); err != nil {
			return err
		}
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	if ents, err := os.ReadDir(o.stateDir); err == nil && len(ents) > 0 {
		return fmt.Errorf("state dir %s is not empty and holds no %s: refusing to use it", o.stateDir, StateFile)
	}
	if err := os.MkdirAll(o.stateDir, 0o700); err != nil {
		return fmt.Errorf("create state dir: %w", err)
	}
	return statedir.Check(o.stateDir)
}

// start writes the PKI and kubeconfigs and starts the components one by
// one, recording each in cluster.json as soon as it runs.
func (c *Cluster) start(ctx context.Context, o *options) error {
	ports, err := freePorts(6)
	if err != nil {
		return err
	}
	c.Server = "https://127.0.0.1:" + strconv.Itoa(ports[2])
	dir := c.Dir
	pk, err := newPKI(filepath.Join(dir, pkiDirName))
	if err != nil {
		return err
	}
	if err := c.writeKubeconfigs(pk); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o700); err != nil {
		return fmt.Errorf("create log dir: %w", err)
	}
	client, err := AdminClient(c.Kubeconfig)
	if err != nil {
		return err
	}
	if o.realNode {
		if err := pk.apiserverKubeletClient(); err != nil {
			return err
		}
	}
	specs := c.componentSpecs(o.binDir, pk, ports, o.realNode)
	t0 := time.Now()
	for _, s := range specs {
		p, err := start(s.name, filepath.Join(o.binDir, s.name), dir, filepath.Join(dir, "logs", s.name+".log"), s.args)
		if err != nil {
			return err
		}
		p.Ports, p.Health = s.ports, s.health
		c.Processes = append(c.Processes, p)
		if err := c.save(); err != nil {
			return err
		}
		o.log.Debug("started", "component", s.name, "pid", p.PID, "ports", s.ports)
		switch s.name {
		case Etcd:
			// The apiserver retries etcd, but failing here names the culprit.
			if err := c.waitHealthy(ctx, client, p); err != nil {
				return err
			}
		case APIServer:
			if err := c.waitHealthy(ctx, client, p); err != nil {
				return err
			}
			c.ReadyAfter = time.Since(t0)
			if err := c.save(); err != nil {
				return err
			}
		}
	}
	for _, p := range c.Processes[2:] {
		if err := c.waitHealthy(ctx, client, p); err != nil {
			return err
		}
	}
	if err := c.waitDefaultServiceAccount(ctx, client); err != nil {
		return err
	}
	if o.realNode {
		return c.startNode(ctx, o, pk, client)
	}
	return nil
}

// waitHealthy polls p's health URL until it answers 200, failing early
// (with the end of its log) when p exits.
func (c *Cluster) waitHealthy(ctx context.Context, client *http.Client, p *Process) error {
	// Components serve their own self-signed certificates on /healthz,
	// which are not the cluster CA's; /healthz is public, so verify
	// only the apiserver.
	insecure := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // loopback health probe only
	}}
	hc := insecure
	if p.Name == APIServer {
		hc = client
	}
	defer insecure.CloseIdleConnections()
	deadline, _ := ctx.Deadline()
	err := poll(ctx, time.Until(deadline), func() error {
		if p.exited() {
			return fmt.Errorf("%w: %v", errExited, p.err)
		}
		return getOK(ctx, hc, p.Health)
	})
	if errors.Is(err, errExited) || (err != nil && p.exited()) {
		return fmt.Errorf("%s exited: %w\n%s", p.Name, err, tail(p.Log, 2000))
	}
	if err != nil {
		return fmt.Errorf("%s not healthy: %w (log %s)", p.Name, err, p.Log)
	}
	return nil
}

// errExited stops polling a process that is gone.
var errExited = errors.New("process exited")

// save writes cluster.json atomically.
func (c *Cluster) save() error {
	b, err := json.MarshalIndent(c.State, "", "  ")
	if err != nil {
		return fmt.Errorf("marshal cluster state: %w", err)
	}
	tmp := filepath.Join(c.Dir, StateFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write cluster state: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(c.Dir, StateFile)); err != nil {
		return fmt.Errorf("write cluster state: %w", err)
	}
	return nil
}
