package local_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aiuptime/aiuptime/internal/proctest"
	"github.com/aiuptime/aiuptime/kube/local"
)

// modelImage is the fixture image the real node runs (`make images`).
const modelImage = "aiuptime/modelserver:dev"

// skipUnlessRealNode skips unless the host can run a real node: root,
// the kubelet and kube-proxy from `make kube`, Debian's containerd, and
// the fixture image from `make images`.
func skipUnlessRealNode(t *testing.T, bin string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: the real node needs root")
	}
	for _, f := range []string{filepath.Join(bin, local.Kubelet), filepath.Join(bin, local.KubeProxy)} {
		if _, err := os.Stat(f); err != nil {
			t.Skipf("skipping: %v (run `make kube`)", err)
		}
	}
	if _, err := os.Stat("/usr/bin/containerd"); err != nil {
		t.Skipf("skipping: %v (run `make deps`: containerd runc containernetworking-plugins)", err)
	}
	if err := exec.Command("docker", "image", "inspect", modelImage).Run(); err != nil {
		t.Skipf("skipping: image %s: %v (run `make images`)", modelImage, err)
	}
}

// TestRealNodeServesPods starts a cluster with a real node, runs the model
// server fixture in a pod, reaches its /health from the host at the pod
// IP and through a ClusterIP Service, reads its log through the apiserver
// (which dials the kubelet), then takes the cluster down and checks,
// through Audit and independently, that nothing of it is left on the host.
func TestRealNodeServesPods(t *testing.T) {
	bin := binDir(t)
	skipUnlessRealNode(t, bin)
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "cluster")
	var (
		c     *local.Cluster
		err   error
		start time.Time
	)
	// One real node per host: wait for another test's to go.
	proctest.Poll(t, 5*time.Minute, "the host free of another real node", func() error {
		start = time.Now()
		c, err = local.Up(ctx, local.WithStateDir(dir), local.WithBinDir(bin), local.WithName("realnode"),
			local.WithLogger(testLogger(t)), local.WithRealNode(), local.WithImages(modelImage))
		if errors.Is(err, local.ErrNodeBusy) {
			return err
		}
		return nil
	})
	t.Cleanup(func() { _ = local.Down(context.Background(), dir) })
	t.Cleanup(func() { dumpLogsOnFailure(t, dir) }) // before Down removes them
	if err != nil {
		t.Fatal(err)
	}
	n := c.Node
	t.Logf("startup: control plane ready %v; node: containerd ready %v, images imported %v, kubelet registered %v, node Ready %v (from containerd start); Up took %v",
		c.ReadyAfter.Round(time.Millisecond), n.ContainerdReady.Round(time.Millisecond), n.ImagesImported.Round(time.Millisecond),
		n.KubeletRegistered.Round(time.Millisecond), n.NodeReady.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	// Directories in fixed places the node's programs made, unless another
	// real node (of another test) started meanwhile and uses them.
	for _, d := range n.CreatedDirs {
		if _, err := os.Lstat(d); err == nil && !otherKubelet() {
			t.Errorf("host directory %s, made by the node, left", d)
		}
	}
	for k, v := range n.SysctlsBefore {
		if a := n.SysctlsAfter[k]; a != v {
			t.Logf("the node changed sysctl %s: %s -> %s (Down restores it)", k, v, a)
		}
	}
	api, err := c.HTTPClient()
	if err != nil {
		t.Fatal(err)
	}
	created := time.Now()
	call(t, api, http.MethodPost, c.Server+"/api/v1/namespaces/default/pods", modelPod(), nil)
	call(t, api, http.MethodPost, c.Server+"/api/v1/namespaces/default/services", map[string]any{
		"apiVersion": "v1", "kind": "Service", "metadata": map[string]any{"name": "model"},
		"spec": map[string]any{"selector": map[string]string{"app": "model"},
			"ports": []map[string]any{{"port": 8000, "targetPort": 8000}}},
	}, nil)
	podIP := waitPodReady(t, api, c.Server+"/api/v1/namespaces/default/pods/model-0")
	t.Logf("first pod Ready %v after create (image imported, init container, readiness probe), IP %s", time.Since(created).Round(time.Millisecond), podIP)
	logRSS(t, "with one pod", c.Processes)

	// No keep-alive: a connection made to the ClusterIP before kube-proxy
	// programmed it went out by the default route, and reusing it would
	// never reach the pod.
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	if err := getStatus(ctx, hc, "http://"+podIP+":8000/health"); err != nil {
		t.Fatalf("pod IP from the host: %v", err)
	}
	var svc struct {
		Spec struct {
			ClusterIP string `json:"clusterIP"`
		} `json:"spec"`
	}
	call(t, api, http.MethodGet, c.Server+"/api/v1/namespaces/default/services/model", nil, &svc)
	polled := time.Now()
	// Nothing goes to the ClusterIP before kube-proxy routes it: until
	// then the packet would leave the host by the default route.
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := local.WaitServiceRouted(wctx, svc.Spec.ClusterIP, 8000); err != nil {
		t.Fatal(err)
	}
	t.Logf("kube-proxy routed the Service %v after the pod IP answered", time.Since(polled).Round(time.Millisecond))
	proctest.Poll(t, time.Minute, "GET /health through the Service ClusterIP", func() error {
		return getStatus(ctx, hc, "http://"+svc.Spec.ClusterIP+":8000/health")
	})
	t.Logf("Service ClusterIP %s answered %v after the pod IP did", svc.Spec.ClusterIP, time.Since(polled).Round(time.Millisecond))
	// From inside the pod's network namespace (as the gateway pod reaches
	// the model Service): through the ClusterIP back to itself (hairpin:
	// out to the bridge, DNAT, masquerade, back in) and at its own IP.
	netns, _ := filepath.Glob(filepath.Join(dir, "node", "containerd", "state", "io.containerd.grpc.v1.cri", "netns", "cni-*"))
	if len(netns) != 1 {
		t.Fatalf("pod network namespaces under the state dir: %v; want 1", netns)
	}
	for _, url := range []string{"http://" + svc.Spec.ClusterIP + ":8000/health", "http://" + podIP + ":8000/health"} {
		out, err := exec.CommandContext(ctx, "nsenter", "--net="+netns[0], "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
			"--max-time", "5", url).CombinedOutput()
		if err != nil || string(out) != "200" {
			t.Errorf("from the pod, %s: %v: %s", url, err, out)
		}
	}
	polled = time.Now()
	logs := callRaw(t, api, c.Server+"/api/v1/namespaces/default/pods/model-0/log?container=model")
	if len(logs) == 0 {
		t.Error("pod log through the apiserver and kubelet is empty")
	}
	t.Logf("pod log through the apiserver and the kubelet: %d bytes in %v", len(logs), time.Since(polled).Round(time.Millisecond))

	downStart := time.Now()
	if err := c.Down(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("down took %v", time.Since(downStart).Round(time.Millisecond))
	assertGone(t, dir, c.Processes)
	if left, err := local.AuditNode(dir); err != nil || len(left) > 0 {
		t.Errorf("AuditNode after Down: %v (%v)", left, err)
	}
	// What `drill doctor` runs over the clusters' root dir.
	if as, err := local.AuditAll(filepath.Dir(dir)); err != nil || len(as) > 0 {
		t.Errorf("AuditAll after Down: %+v (%v)", as, err)
	}
	assertHostClean(t, dir, n)
}

// modelPod is a Pod running the model server fixture as stack/docker does
// (serve on port 8000), with its model generated by an init container
// into an emptyDir, and a readiness probe on /health.
func modelPod() map[string]any {
	models := []map[string]any{{"name": "models", "mountPath": "/models"}}
	return map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": "model-0", "labels": map[string]string{"app": "model"}},
		"spec": map[string]any{
			"automountServiceAccountToken":  false,
			"terminationGracePeriodSeconds": 1,
			"volumes":                       []map[string]any{{"name": "models", "emptyDir": map[string]any{}}},
			"initContainers": []map[string]any{{
				"name": "gen-model", "image": modelImage, "imagePullPolicy": "Never",
				"command":      []string{"/aiuptime-modelserver", "gen-model", "--dir", "/models/tiny", "--name", "tiny", "--size", "1MiB"},
				"volumeMounts": models,
			}},
			"containers": []map[string]any{{
				"name": "model", "image": modelImage, "imagePullPolicy": "Never",
				"args":           []string{"--model-dir", "/models/tiny", "--host", "0.0.0.0", "--port", "8000"},
				"ports":          []map[string]any{{"containerPort": 8000}},
				"readinessProbe": map[string]any{"httpGet": map[string]any{"path": "/health", "port": 8000}, "periodSeconds": 1},
				"volumeMounts":   models,
			}},
		},
	}
}

// waitPodReady polls the pod until its Ready condition is True and
// returns its IP.
func waitPodReady(t *testing.T, api *http.Client, url string) string {
	t.Helper()
	var ip string
	proctest.Poll(t, 3*time.Minute, "pod Ready", func() error {
		var pod struct {
			Status struct {
				PodIP      string `json:"podIP"`
				Phase      string `json:"phase"`
				Conditions []struct {
					Type, Status string
				} `json:"conditions"`
				ContainerStatuses []map[string]any `json:"containerStatuses"`
			} `json:"status"`
		}
		call(t, api, http.MethodGet, url, nil, &pod)
		for _, cond := range pod.Status.Conditions {
			if cond.Type == "Ready" && cond.Status == "True" {
				ip = pod.Status.PodIP
				return nil
			}
		}
		return fmt.Errorf("phase %s, containers %v", pod.Status.Phase, pod.Status.ContainerStatuses)
	})
	return ip
}

// getStatus GETs url and wants 200.
func getStatus(ctx context.Context, hc *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

// callRaw GETs url and returns the body of a 200 answer, failing t
// otherwise.
func callRaw(t *testing.T, api *http.Client, url string) []byte {
	t.Helper()
	var b []byte
	proctest.Poll(t, 30*time.Second, "GET "+url, func() error {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := api.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", resp.Status, data)
		}
		b = data
		return nil
	})
	return b
}

// assertHostClean checks, without the package's own audit, that nothing
// of the node is left: no bridge (ip link), no KUBE-/CNI- chain
// (iptables-save, ip6tables-save), no mount under dir (mountinfo), no
// kubepods or cluster cgroup, no process naming dir, and the sysctls as
// they were before.
func assertHostClean(t *testing.T, dir string, n *local.NodeState) {
	t.Helper()
	if out, err := exec.Command("ip", "-o", "link", "show").CombinedOutput(); err != nil {
		t.Errorf("ip link: %v", err)
	} else if strings.Contains(string(out), n.Bridge) {
		t.Errorf("bridge %s (or a veth on it) left:\n%s", n.Bridge, out)
	}
	for _, prog := range []string{"iptables-save", "ip6tables-save"} {
		out, err := exec.Command(prog).CombinedOutput()
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(out), "\n") {
			if strings.Contains(line, "KUBE-") || strings.Contains(line, "CNI-") {
				t.Errorf("%s: left: %s", prog, line)
			}
		}
	}
	if b, err := os.ReadFile("/proc/self/mountinfo"); err != nil || strings.Contains(string(b), dir) {
		t.Errorf("mounts under %s left (%v)", dir, err)
	}
	for _, pattern := range []string{"/sys/fs/cgroup/*/kubepods*", "/sys/fs/cgroup/*/" + n.CgroupRoot} {
		if m, _ := filepath.Glob(pattern); len(m) > 0 {
			t.Errorf("cgroups left: %v", m)
		}
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), dir) {
			t.Errorf("process %s names %s: %q", filepath.Dir(p), dir, b)
		}
	}
	// Directories in fixed places the node's programs made, unless another
	// real node (of another test) started meanwhile and uses them.
	for _, d := range n.CreatedDirs {
		if _, err := os.Lstat(d); err == nil && !otherKubelet() {
			t.Errorf("host directory %s, made by the node, left", d)
		}
	}
	for k, v := range n.SysctlsBefore {
		if b, err := os.ReadFile(filepath.Join("/proc/sys", k)); err == nil && strings.TrimSpace(string(b)) != v {
			t.Errorf("sysctl %s = %s, was %s before the node", k, strings.TrimSpace(string(b)), v)
		}
	}
}

// dumpLogsOnFailure logs the end of the node components' logs when t
// failed.
func dumpLogsOnFailure(t *testing.T, dir string) {
	if !t.Failed() {
		return
	}
	for _, name := range []string{local.Containerd, local.Kubelet, local.KubeProxy} {
		b, err := os.ReadFile(filepath.Join(dir, "logs", name+".log"))
		if err != nil {
			continue
		}
		if len(b) > 6000 {
			b = b[len(b)-6000:]
		}
		t.Logf("--- end of %s.log:\n%s", name, b)
	}
	if out, err := exec.Command("iptables-save", "-t", "nat").CombinedOutput(); err == nil {
		t.Logf("--- iptables-save -t nat:\n%s", out)
	}
}

// otherKubelet says whether a kubelet runs on the host (another test's).
func otherKubelet() bool {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if b, err := os.ReadFile(p); err == nil && filepath.Base(strings.SplitN(string(b), "\x00", 2)[0]) == local.Kubelet {
			return true
		}
	}
	return false
}
