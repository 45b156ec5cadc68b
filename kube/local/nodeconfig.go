package local

import (
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// The real node's components, started after the control plane when Up is
// given WithRealNode, in this order; Down stops them before the control
// plane.
const (
	Containerd = "containerd"
	Kubelet    = "kubelet"
	KubeProxy  = "kube-proxy"
)

var nodeComponents = []string{Containerd, Kubelet, KubeProxy}

// NodeName is the name the real node registers with.
const NodeName = "aiuptime-node"

// Host programs and places the real node uses (Debian's containerd, runc
// and containernetworking-plugins).
const (
	containerdBin = "/usr/bin/containerd"
	shimBin       = "containerd-shim-runc-v2"
	cniBinDir     = "/usr/lib/cni"
	criNamespace  = "k8s.io"
	nodeDirName   = "node"
)

// nodeID is what names the host resources of one cluster's real node: all
// derived from its state dir, so that Down finds them even when the state
// file is lost.
type nodeID struct {
	dir  string // the cluster's state dir
	hash string // 10 hex digits of sha256(dir)
}

func idOf(dir string) nodeID {
	s := sha256.Sum256([]byte(filepath.Clean(dir)))
	return nodeID{dir: filepath.Clean(dir), hash: hex.EncodeToString(s[:])[:10]}
}

// bridgePrefix starts the name of every real node's CNI bridge.
const bridgePrefix = "aiuk-"

// cgroupPrefix starts the name of every real node's cgroup root (the
// kubelet's cgroupRoot; kubepods/ lives beneath it).
const cgroupPrefix = "aiuptime-kube-"

// bridge is the CNI bridge: "aiuk-" and 10 hex digits, 15 characters (the
// kernel's limit).
func (id nodeID) bridge() string { return bridgePrefix + id.hash }

// network is the CNI network name (host-local's and libcni's cache key).
func (id nodeID) network() string { return "aiuptime-" + id.hash }

// cgroupRoot is the kubelet's cgroup root, a direct child of every
// hierarchy's root.
func (id nodeID) cgroupRoot() string { return cgroupPrefix + id.hash }

func (id nodeID) path(elem ...string) string {
	return filepath.Join(append([]string{id.dir, nodeDirName}, elem...)...)
}

func (id nodeID) socket() string           { return id.path("containerd", "containerd.sock") }
func (id nodeID) containerdConfig() string { return id.path("containerd", "config.toml") }
func (id nodeID) cniConfDir() string       { return id.path("cni", "net.d") }
func (id nodeID) kubeletDir() string       { return id.path("kubelet") }
func (id nodeID) proxyDir() string         { return id.path("kube-proxy") }

// containerdConfig is containerd's config: every path under the state
// dir, the CRI plugin with the local sandbox image, runc's state under the
// state dir, and CNI from the Debian plugins with the node's own conf dir.
//
//   - restrict_oom_score_adj: the kubelet asks for OOM score adjustments
//     below containerd's own, which fail when containerd runs in a
//     container; this clamps them.
//   - netns_mounts_under_state_dir: the pods' network namespaces are bind
//     mounted under the state dir, not /var/run/netns.
//   - disable_apparmor: no profile is loaded into the host's kernel.
//   - the opt plugin's path: not /opt/containerd.
func containerdConfig(id nodeID) string {
	q := strconv.Quote
	return strings.Join([]string{
		`version = 2`,
		`root = ` + q(id.path("containerd", "root")),
		`state = ` + q(id.path("containerd", "state")),
		`[grpc]`,
		`  address = ` + q(id.socket()),
		`[plugins."io.containerd.internal.v1.opt"]`,
		`  path = ` + q(id.path("containerd", "opt")),
		`[plugins."io.containerd.grpc.v1.cri"]`,
		`  sandbox_image = ` + q(SandboxImage),
		`  restrict_oom_score_adj = true`,
		`  netns_mounts_under_state_dir = true`,
		`  disable_apparmor = true`,
		`  stream_server_address = "127.0.0.1"`,
		`  [plugins."io.containerd.grpc.v1.cri".containerd]`,
		`    snapshotter = "overlayfs"`,
		`    default_runtime_name = "runc"`,
		`    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]`,
		`      runtime_type = "io.containerd.runc.v2"`,
		`      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]`,
		`        SystemdCgroup = false`,
		`        Root = ` + q(id.path("containerd", "runc")),
		`  [plugins."io.containerd.grpc.v1.cri".cni]`,
		`    bin_dir = ` + q(cniBinDir),
		`    conf_dir = ` + q(id.cniConfDir()),
		`    max_conf_num = 1`,
		``,
	}, "\n")
}

// cniConfig is the pod network: a bridge named for the cluster with the
// gateway address, host-local IPAM on podCIDR with its data under the state
// dir, no masquerade and no default route (pods need not reach outside;
// they reach the Services' range and the node through the gateway),
// hairpin for a pod that reaches itself through a Service; then the
// firewall plugin, which accepts the pods' traffic in FORWARD (Docker sets
// its policy to DROP and br_netfilter sends bridged frames through it).
func cniConfig(id nodeID, podCIDR, gateway, nodeIP string) ([]byte, error) {
	conf := map[string]any{
		"cniVersion": "0.4.0",
		"name":       id.network(),
		"plugins": []any{
			map[string]any{
				"type": "bridge", "bridge": id.bridge(), "isGateway": true, "ipMasq": false, "hairpinMode": true,
				"ipam": map[string]any{
					"type":    "host-local",
					"dataDir": id.path("cni", "ipam"),
					"ranges":  [][]map[string]string{{{"subnet": podCIDR, "gateway": gateway}}},
					"routes":  []map[string]string{{"dst": serviceCIDR}, {"dst": nodeIP + "/32"}},
				},
			},
			map[string]any{"type": "firewall", "backend": "iptables"},
		},
	}
	b, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("cni config: %w", err)
	}
	return b, nil
}

// kubeletPorts are the kubelet's ports: its API (on the node IP) and its
// healthz (on 127.0.0.1).
type kubeletPorts struct{ api, healthz int }

// kubeletConfig is the KubeletConfiguration (JSON, which the kubelet's
// YAML decoder reads). Why each setting:
//   - failCgroupV1 false: the host may use cgroup v1, refused by default.
//   - cgroupDriver cgroupfs, cgroupRoot of the cluster's own: pods' cgroups
//     live under /<hierarchy>/aiuptime-kube-<hash>/kubepods, never the
//     host's kubepods, and Down removes the whole subtree.
//   - authentication by the cluster's CA, authorization by the apiserver
//     (webhook), no anonymous access, no read-only port.
//   - address: the node IP, which the apiserver dials for logs, exec and
//     port-forward (InternalIP first).
//   - failSwapOn false; eviction at 1 % free disk and image GC off: a busy
//     CI disk must not evict the pods, and the imported images cannot be
//     pulled again.
//   - makeIPTablesUtilChains false: no KUBE-IPTABLES-HINT/KUBE-KUBELET-CANARY.
//   - podLogsDir and volumePluginDir under the state dir.
func kubeletConfig(id nodeID, nodeIP, caFile, certFile, keyFile string, ports kubeletPorts) ([]byte, error) {
	dir := id.kubeletDir()
	conf := map[string]any{
		"kind": "KubeletConfiguration", "apiVersion": "kubelet.config.k8s.io/v1beta1",
		"address": nodeIP, "port": ports.api, "readOnlyPort": 0,
		"healthzBindAddress": "127.0.0.1", "healthzPort": ports.healthz,
		"tlsCertFile": certFile, "tlsPrivateKeyFile": keyFile,
		"authentication": map[string]any{
			"anonymous": map[string]any{"enabled": false},
			"webhook":   map[string]any{"enabled": true},
			"x509":      map[string]any{"clientCAFile": caFile},
		},
		"authorization":            map[string]any{"mode": "Webhook"},
		"cgroupDriver":             "cgroupfs",
		"cgroupRoot":               "/" + id.cgroupRoot(),
		"failCgroupV1":             false,
		"failSwapOn":               false,
		"containerRuntimeEndpoint": "unix://" + id.socket(),
		"podLogsDir":               filepath.Join(dir, "pod-logs"),
		"volumePluginDir":          filepath.Join(dir, "volume-plugins"),
		"evictionHard": map[string]string{
			"memory.available": "100Mi", "nodefs.available": "1%", "nodefs.inodesFree": "1%",
			"imagefs.available": "1%", "imagefs.inodesFree": "1%",
		},
		"mergeDefaultEvictionSettings": false,
		"imageGCHighThresholdPercent":  100,
		"imageGCLowThresholdPercent":   99,
		"makeIPTablesUtilChains":       false,
		"serializeImagePulls":          false,
		"resolvConf":                   "/etc/resolv.conf",
		"registerNode":                 true,
	}
	b, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("kubelet config: %w", err)
	}
	return b, nil
}

// kubeletArgs is the kubelet's command line.
func kubeletArgs(id nodeID, nodeIP string) []string {
	dir := id.kubeletDir()
	return []string{
		"--config=" + filepath.Join(dir, "config.json"),
		"--kubeconfig=" + filepath.Join(dir, "kubeconfig"),
		"--root-dir=" + filepath.Join(dir, "root"),
		"--cert-dir=" + filepath.Join(dir, "pki"),
		"--hostname-override=" + NodeName,
		"--node-ip=" + nodeIP,
	}
}

// proxyPorts are kube-proxy's healthz and metrics ports on 127.0.0.1.
type proxyPorts struct{ healthz, metrics int }

// kubeProxyConfig is the KubeProxyConfiguration: iptables mode, the pod
// CIDR as the cluster CIDR, and no conntrack sysctl written (every
// conntrack setting 0: leave the kernel's value). Localhost NodePorts stay
// off (no route_localnet): Services are reached by ClusterIP; NodePorts
// open on the node IP only.
func kubeProxyConfig(id nodeID, podCIDR string, ports proxyPorts) ([]byte, error) {
	conf := map[string]any{
		"kind": "KubeProxyConfiguration", "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
		"mode":               "iptables",
		"clusterCIDR":        podCIDR,
		"hostnameOverride":   NodeName,
		"healthzBindAddress": "127.0.0.1:" + strconv.Itoa(ports.healthz),
		"metricsBindAddress": "127.0.0.1:" + strconv.Itoa(ports.metrics),
		"clientConnection":   map[string]any{"kubeconfig": filepath.Join(id.proxyDir(), "kubeconfig")},
		"iptables":           map[string]any{"localhostNodePorts": false, "masqueradeAll": false},
		"nodePortAddresses":  []string{"primary"}, // NodePorts on the node IP only, not docker0's
		"conntrack": map[string]any{
			"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s",
			"udpTimeout": "0s", "udpStreamTimeout": "0s",
		},
	}
	b, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("kube-proxy config: %w", err)
	}
	return b, nil
}

// The apiserver's client certificate for the kubelets.
const (
	kubeletClientCertFile = "apiserver-kubelet-client.crt"
	kubeletClientKeyFile  = "apiserver-kubelet-client.key"
)

// apiserverKubeletClient issues the apiserver's client certificate for
// the kubelet's API (system:masters, which the kubelet's webhook
// authorization allows everything).
func (p *pki) apiserverKubeletClient() error {
	der, key, err := p.issue(x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver-kubelet-client", Organization: []string{mastersGroup}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return fmt.Errorf("apiserver kubelet client certificate: %w", err)
	}
	return p.writePair(kubeletClientCertFile, kubeletClientKeyFile, der, key)
}
