package local

import (
	"bytes"
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ErrNodeBusy refuses a second real node on one host: kube-proxy's
// iptables chains (KUBE-SERVICES, ...) are global, two kube-proxies would
// overwrite each other's.
var ErrNodeBusy = errors.New("another real node (kubelet or kube-proxy) runs on this host")

// ErrNodeUnsupported means the host cannot run the real node (not root,
// a program missing); the message names what.
var ErrNodeUnsupported = errors.New("host cannot run a real node")

// NodeState is what cluster.json records of the real node.
type NodeState struct {
	// Name is the Node's name.
	Name string `json:"name"`
	// IP is the node IP: the kubelet listens there and the apiserver dials it.
	IP string `json:"ip"`
	// Bridge is the CNI bridge, PodCIDR its subnet and Gateway its address.
	Bridge  string `json:"bridge"`
	PodCIDR string `json:"pod_cidr"`
	Gateway string `json:"gateway"`
	// CgroupRoot is the kubelet's cgroup root in every hierarchy.
	CgroupRoot string `json:"cgroup_root"`
	// Socket is containerd's gRPC socket.
	Socket string `json:"containerd_socket"`
	// Images are the images imported from Docker.
	Images []string `json:"images,omitempty"`
	// SysctlsBefore are the kernel settings the kubelet or kube-proxy may
	// change, as they were before the node started; SysctlsAfter as they
	// were once it was Ready. Down restores each one that changed.
	SysctlsBefore map[string]string `json:"sysctls_before,omitempty"`
	SysctlsAfter  map[string]string `json:"sysctls_after,omitempty"`
	// HadContainerLogsDir says /var/log/containers existed before the
	// kubelet (which creates it) started, with mode ContainerLogsDirMode.
	HadContainerLogsDir  bool        `json:"had_container_logs_dir"`
	ContainerLogsDirMode os.FileMode `json:"container_logs_dir_mode,omitempty"`
	// CreatedDirs are the host directories outside the state dir that the
	// node's programs make (hostDirs) which did not exist before it
	// started: Down removes them when they are empty again.
	CreatedDirs []string `json:"created_dirs,omitempty"`
	// Timings, from the start of the node (containerd's start).
	ContainerdReady   time.Duration `json:"containerd_ready_ns,omitempty"`
	ImagesImported    time.Duration `json:"images_imported_ns,omitempty"`
	KubeletRegistered time.Duration `json:"kubelet_registered_ns,omitempty"`
	NodeReady         time.Duration `json:"node_ready_ns,omitempty"`
}

// containerLogsDir is where the kubelet links the containers' logs; the
// path is fixed in the kubelet.
const containerLogsDir = "/var/log/containers"

// nodeLockFile serialises the start of real nodes on one host: between the
// check for another node's processes and the start of its own, an Up holds
// it, so two Ups cannot both find the host free.
var nodeLockFile = filepath.Join(os.TempDir(), "aiuptime-kube-realnode.lock")

// nodeLockKey marks a context whose caller holds the start lock.
type nodeLockKey struct{}

// withNodeLock says that ctx's caller holds the start lock (Up, which may
// call Down on its way).
func withNodeLock(ctx context.Context) context.Context {
	return context.WithValue(ctx, nodeLockKey{}, true)
}

func holdsNodeLock(ctx context.Context) bool {
	held, _ := ctx.Value(nodeLockKey{}).(bool)
	return held
}

// lockNodeStart takes the host's real-node start lock, waiting for it
// while ctx allows; the returned func releases it.
func lockNodeStart(ctx context.Context) (func(), error) {
	f, err := os.OpenFile(nodeLockFile, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("real node start lock: %w", err)
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(DefaultStartTimeout)
	}
	err = poll(ctx, time.Until(deadline), func() error {
		return unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	})
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("real node start lock %s: %w", nodeLockFile, err)
	}
	return func() { _ = unix.Flock(int(f.Fd()), unix.LOCK_UN); f.Close() }, nil
}

// checkNodeHost refuses a host that cannot run the real node, and a second
// real node.
func checkNodeHost(binDir string) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: not root", ErrNodeUnsupported)
	}
	for _, p := range []string{containerdBin, filepath.Join(binDir, Kubelet), filepath.Join(binDir, KubeProxy),
		filepath.Join(cniBinDir, "bridge"), filepath.Join(cniBinDir, "host-local"), filepath.Join(cniBinDir, "firewall")} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("%w: %v (apt-get install containerd runc containernetworking-plugins iptables; make kube)", ErrNodeUnsupported, err)
		}
	}
	for _, prog := range []string{"runc", "ctr", shimBin, "iptables", "iptables-save", "iptables-restore"} {
		if _, err := exec.LookPath(prog); err != nil {
			return fmt.Errorf("%w: %v", ErrNodeUnsupported, err)
		}
	}
	others, err := nodeProcesses("")
	if err != nil {
		return err
	}
	if len(others) > 0 {
		return fmt.Errorf("%w: %s (pid %d)", ErrNodeBusy, strings.Join(others[0].Args, " "), others[0].PID)
	}
	return nil
}

// startNode starts the real node after the control plane: containerd,
// then the images, then the kubelet, then kube-proxy; and waits for the
// Node to be Ready. Each process is recorded as soon as it runs, the host
// resources (bridge, cgroups) before they are made, so Down finds all.
func (c *Cluster) startNode(ctx context.Context, o *options, pk *pki, client *http.Client) error {
	id := idOf(c.Dir)
	n, err := planNode(id)
	if err != nil {
		return err
	}
	n.Images = o.images
	c.Node = n
	if err := c.save(); err != nil {
		return err
	}
	if err := setupNodeHost(id, n); err != nil {
		return err
	}
	if err := c.writeNodeFiles(id, pk); err != nil {
		return err
	}
	t0 := time.Now()
	if err := c.startContainerd(ctx, o, id); err != nil {
		return err
	}
	n.ContainerdReady = time.Since(t0)
	if err := importImages(ctx, id, o.images); err != nil {
		return err
	}
	n.ImagesImported = time.Since(t0)
	if err := c.startKubelet(ctx, o, id, client); err != nil {
		return err
	}
	n.KubeletRegistered = time.Since(t0)
	if err := c.startKubeProxy(ctx, o, id); err != nil {
		return err
	}
	if err := c.waitNodeReady(ctx, client); err != nil {
		return err
	}
	n.NodeReady = time.Since(t0)
	n.SysctlsAfter = readSysctls()
	o.log.Info("real node ready", "node", NodeName, "ip", n.IP, "pod_cidr", n.PodCIDR, "bridge", n.Bridge,
		"containerd_ready", n.ContainerdReady.Round(time.Millisecond), "images_imported", n.ImagesImported.Round(time.Millisecond),
		"kubelet_registered", n.KubeletRegistered.Round(time.Millisecond), "node_ready", n.NodeReady.Round(time.Millisecond))
	return c.save()
}

// planNode chooses the node IP and pod CIDR and records what the host
// looks like before the node touches it.
func planNode(id nodeID) (*NodeState, error) {
	ip, err := nodeIP()
	if err != nil {
		return nil, err
	}
	cidr, gw, err := freePodCIDR()
	if err != nil {
		return nil, err
	}
	n := &NodeState{Name: NodeName, IP: ip, Bridge: id.bridge(), PodCIDR: cidr, Gateway: gw,
		CgroupRoot: id.cgroupRoot(), Socket: id.socket(), SysctlsBefore: pristineSysctls()}
	if st, err := os.Stat(containerLogsDir); err == nil {
		n.HadContainerLogsDir, n.ContainerLogsDirMode = true, st.Mode().Perm()
	}
	for _, d := range hostDirs {
		if _, err := os.Lstat(d); errors.Is(err, fs.ErrNotExist) {
			n.CreatedDirs = append(n.CreatedDirs, d)
		}
	}
	if len(id.socket()) > 100 {
		return nil, fmt.Errorf("state dir %s is too long for containerd's socket path", id.dir)
	}
	return n, nil
}

// writeNodeFiles writes the node's configs, kubeconfigs and certificates.
func (c *Cluster) writeNodeFiles(id nodeID, pk *pki) error {
	n := c.Node
	for _, d := range []string{id.path("containerd"), id.cniConfDir(), id.kubeletDir(), id.proxyDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("create %s: %w", d, err)
		}
	}
	kdir := id.kubeletDir()
	der, key, err := pk.issue(x509.Certificate{
		Subject:     pkix.Name{CommonName: NodeName},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{NodeName},
		IPAddresses: []net.IP{net.ParseIP(n.IP)},
	})
	if err != nil {
		return fmt.Errorf("kubelet serving certificate: %w", err)
	}
	kp := &pki{dir: kdir}
	if err := kp.writePair("serving.crt", "serving.key", der, key); err != nil {
		return err
	}
	if err := pk.clientKubeconfig(filepath.Join(kdir, "kubeconfig"), c.Server, "system:node:"+NodeName, "system:nodes"); err != nil {
		return err
	}
	if err := pk.clientKubeconfig(filepath.Join(id.proxyDir(), "kubeconfig"), c.Server, "system:kube-proxy"); err != nil {
		return err
	}
	ports, err := freePorts(4)
	if err != nil {
		return err
	}
	files := map[string]func() ([]byte, error){
		id.containerdConfig(): func() ([]byte, error) { return []byte(containerdConfig(id)), nil },
		filepath.Join(id.cniConfDir(), "10-aiuptime.conflist"): func() ([]byte, error) {
			return cniConfig(id, n.PodCIDR, n.Gateway, n.IP)
		},
		filepath.Join(kdir, "config.json"): func() ([]byte, error) {
			return kubeletConfig(id, n.IP, pk.path(caCertFile), kp.path("serving.crt"), kp.path("serving.key"),
				kubeletPorts{api: ports[0], healthz: ports[1]})
		},
		filepath.Join(id.proxyDir(), "config.json"): func() ([]byte, error) {
			return kubeProxyConfig(id, n.PodCIDR, proxyPorts{healthz: ports[2], metrics: ports[3]})
		},
	}
	for path, gen := range files {
		b, err := gen()
		if err != nil {
			return err
		}
		if err := writeFile(path, b); err != nil {
			return err
		}
	}
	return nil
}

// startNodeProcess starts one node component and records it.
func (c *Cluster) startNodeProcess(o *options, name, bin string, args []string, health string) (*Process, error) {
	p, err := start(name, bin, c.Dir, filepath.Join(c.Dir, "logs", name+".log"), args)
	if err != nil {
		return nil, err
	}
	p.Health = health
	c.Processes = append(c.Processes, p)
	o.log.Debug("started", "component", name, "pid", p.PID)
	return p, c.save()
}

// startContainerd starts containerd with the private config and waits
// until it answers on its socket.
func (c *Cluster) startContainerd(ctx context.Context, o *options, id nodeID) error {
	p, err := c.startNodeProcess(o, Containerd, containerdBin, []string{"--config", id.containerdConfig()}, "")
	if err != nil {
		return err
	}
	deadline, _ := ctx.Deadline()
	err = poll(ctx, time.Until(deadline), func() error {
		if p.exited() {
			return fmt.Errorf("%w: %v", errExited, p.err)
		}
		out, err := exec.CommandContext(ctx, "ctr", "-a", id.socket(), "version").CombinedOutput()
		if err != nil {
			return fmt.Errorf("ctr version: %w: %s", err, bytes.TrimSpace(out))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("containerd not ready: %w\n%s", err, tail(p.Log, 2000))
	}
	return nil
}

// importImages imports the sandbox image and the Docker images refs into
// the node's containerd.
func importImages(ctx context.Context, id nodeID, refs []string) error {
	tarball, err := sandboxImageTar(SandboxImage)
	if err != nil {
		return err
	}
	if err := ctrImport(ctx, id.socket(), bytes.NewReader(tarball)); err != nil {
		return fmt.Errorf("import sandbox image: %w", err)
	}
	if len(refs) == 0 {
		return nil
	}
	return importDockerImages(ctx, id.socket(), refs)
}

// startKubelet starts the kubelet and waits for its Node object.
func (c *Cluster) startKubelet(ctx context.Context, o *options, id nodeID, client *http.Client) error {
	var conf struct {
		HealthzPort int `json:"healthzPort"`
	}
	b, err := os.ReadFile(filepath.Join(id.kubeletDir(), "config.json"))
	if err == nil {
		err = json.Unmarshal(b, &conf)
	}
	if err != nil {
		return fmt.Errorf("kubelet config: %w", err)
	}
	health := fmt.Sprintf("http://127.0.0.1:%d/healthz", conf.HealthzPort)
	p, err := c.startNodeProcess(o, Kubelet, filepath.Join(o.binDir, Kubelet), kubeletArgs(id, c.Node.IP), health)
	if err != nil {
		return err
	}
	url := c.Server + "/api/v1/nodes/" + NodeName
	deadline, _ := ctx.Deadline()
	err = poll(ctx, time.Until(deadline), func() error {
		if p.exited() {
			return fmt.Errorf("%w: %v", errExited, p.err)
		}
		return getOK(ctx, client, url)
	})
	if err != nil {
		return fmt.Errorf("kubelet did not register node %s: %w\n%s", NodeName, err, tail(p.Log, 3000))
	}
	return nil
}

// startKubeProxy starts kube-proxy and waits until its healthz answers.
func (c *Cluster) startKubeProxy(ctx context.Context, o *options, id nodeID) error {
	var conf struct {
		Healthz string `json:"healthzBindAddress"`
	}
	b, err := os.ReadFile(filepath.Join(id.proxyDir(), "config.json"))
	if err == nil {
		err = json.Unmarshal(b, &conf)
	}
	if err != nil {
		return fmt.Errorf("kube-proxy config: %w", err)
	}
	p, err := c.startNodeProcess(o, KubeProxy, filepath.Join(o.binDir, KubeProxy),
		[]string{"--config=" + filepath.Join(id.proxyDir(), "config.json")}, "http://"+conf.Healthz+"/livez")
	if err != nil {
		return err
	}
	hc := &http.Client{Timeout: 5 * time.Second}
	deadline, _ := ctx.Deadline()
	err = poll(ctx, time.Until(deadline), func() error {
		if p.exited() {
			return fmt.Errorf("%w: %v", errExited, p.err)
		}
		return getOK(ctx, hc, p.Health)
	})
	if err != nil {
		return fmt.Errorf("kube-proxy not healthy: %w\n%s", err, tail(p.Log, 3000))
	}
	return nil
}

// waitNodeReady polls the Node until its Ready condition is True.
func (c *Cluster) waitNodeReady(ctx context.Context, client *http.Client) error {
	url := c.Server + "/api/v1/nodes/" + NodeName
	deadline, _ := ctx.Deadline()
	err := poll(ctx, time.Until(deadline), func() error {
		var node struct {
			Status struct {
				Conditions []struct{ Type, Status, Reason, Message string } `json:"conditions"`
			} `json:"status"`
		}
		if err := getJSON(ctx, client, url, &node); err != nil {
			return err
		}
		for _, cond := range node.Status.Conditions {
			if cond.Type == "Ready" {
				if cond.Status == "True" {
					return nil
				}
				return fmt.Errorf("node %s not ready: %s: %s", NodeName, cond.Reason, cond.Message)
			}
		}
		return fmt.Errorf("node %s has no Ready condition yet", NodeName)
	})
	if err != nil {
		return fmt.Errorf("%w\n%s", err, tail(filepath.Join(c.Dir, "logs", Kubelet+".log"), 3000))
	}
	return nil
}

// getJSON GETs url and decodes a 200 answer into out.
func getJSON(ctx context.Context, hc *http.Client, url string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// nodeProcesses lists the running kubelets and kube-proxies of the host
// (any: a foreign one owns the global iptables chains just the same),
// except those whose command line names the state dir except.
func nodeProcesses(except string) ([]Process, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("scan /proc: %w", err)
	}
	var out []Process
	for _, e := range ents {
		var pid int
		if _, err := fmt.Sscan(e.Name(), &pid); err != nil || pid == os.Getpid() {
			continue
		}
		args, err := cmdline(pid)
		if err != nil || len(args) == 0 {
			continue
		}
		base := filepath.Base(args[0])
		if base != Kubelet && base != KubeProxy {
			continue
		}
		if except != "" && slices.ContainsFunc(args[1:], func(a string) bool {
			return strings.Contains(a, filepath.Clean(except)+string(filepath.Separator))
		}) {
			continue
		}
		out = append(out, Process{Name: base, PID: pid, Args: args})
	}
	return out, nil
}
