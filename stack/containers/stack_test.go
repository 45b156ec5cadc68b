package containers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"

	"github.com/aiuptime/aiuptime/stack"
	"github.com/aiuptime/aiuptime/stack/dockerhost"
)

// skipUnlessDocker skips when Docker is unreachable or -short is set.
func skipUnlessDocker(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: no containers")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cli, err := dockerhost.Connect(ctx)
	if err != nil {
		t.Skipf("docker: %v", err)
	}
	cli.Close()
}

func testRunID(t *testing.T) string { return "ct" + randHex(4) }

// startTest starts a stack and registers its Stop before checking err.
func startTest(t *testing.T, opts ...Option) (*Stack, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	id := testRunID(t)
	stateDir := t.TempDir()
	opts = append([]Option{WithRunID(id), WithModelSize(1 << 20), WithStateDir(stateDir)}, opts...)
	st, err := Start(ctx, opts...)
	t.Cleanup(func() {
		if st != nil {
			if err := st.Stop(context.Background()); err != nil {
				t.Errorf("stop: %v", err)
			}
		}
		assertNothingLeft(t, id)
		if _, err := os.Stat(filepath.Join(stateDir, id)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("run dir left behind: %v", err)
		}
		if mounted, _ := isMountPoint(filepath.Join(stateDir, id, "data")); mounted {
			t.Error("data volume still mounted")
		}
	})
	return st, err
}

// assertNothingLeft checks that no container, network or volume of run id
// remains.
func assertNothingLeft(t *testing.T, id string) {
	t.Helper()
	ctx := context.Background()
	cli, err := dockerhost.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	f := filters.NewArgs(filters.Arg("label", stack.LabelRun+"="+id))
	c, _ := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	n, _ := cli.NetworkList(ctx, network.ListOptions{Filters: f})
	v, _ := cli.VolumeList(ctx, volume.ListOptions{Filters: f})
	if len(c)+len(n)+len(v.Volumes) != 0 {
		t.Errorf("run %s left %d containers, %d networks, %d volumes", id, len(c), len(n), len(v.Volumes))
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestStackLifecycleAndReplacer(t *testing.T) {
	skipUnlessDocker(t)
	st, err := startTest(t, WithProxyMode(ProxyAlways))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	svcs, err := st.Services(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range svcs {
		names = append(names, s.Name)
		if s.ContainerID == "" || s.ImageID == "" || !strings.HasPrefix(s.URL, "http://127.0.0.1:") {
			t.Errorf("%s: handles missing: %+v", s.Name, s)
		}
		for _, l := range []string{stack.LabelRun, stack.LabelService, stack.LabelRole} {
			ins, _ := st.cli.ContainerInspect(ctx, s.ContainerID)
			if ins.Config.Labels[l] == "" {
				t.Errorf("%s: no label %s", s.Name, l)
			}
		}
		if code, body := get(t, s.URL+s.HealthPath); code != http.StatusOK {
			t.Errorf("%s: GET %s = %d %s", s.Name, s.HealthPath, code, body)
		}
	}
	if got := strings.Join(names, ","); got != "model-0,model-1,proxy,gateway" {
		t.Errorf("services = %s", got)
	}
	m0, _ := st.Service(ctx, "model-0")
	m0Proxy, _ := st.FaultProxy(ctx, "model-0")
	if m0.RestartPolicy != "unless-stopped" || m0Proxy == nil || m0.InternalURL != "http://toxiproxy:18000" || m0.DeploymentID != "model-0" {
		t.Errorf("model-0 = %+v, proxy %+v", m0, m0Proxy)
	}
	mv, err := st.Volume(ctx, "model-0", stack.VolumeModels)
	if err != nil {
		t.Fatalf("model-0 has no models volume: %v", err)
	}
	if _, err := os.Stat(filepath.Join(mv.HostPath, "manifest.json")); err != nil {
		t.Errorf("models volume: %v", err)
	}
	gw, _ := st.Service(ctx, "gateway")
	dv, err := st.Volume(ctx, "gateway", stack.VolumeData)
	if err != nil {
		t.Fatalf("gateway has no data volume: %v", err)
	}
	if cv, err := st.Volume(ctx, "gateway", stack.VolumeConfig); err != nil || cv.MountPath == "" {
		t.Errorf("gateway config volume: %+v %v", cv, err)
	}
	su := st.Setup()
	if su.DiskFull {
		if mounted, _ := isMountPoint(dv.HostPath); !mounted {
			t.Errorf("disk-full claimed but %s is not a mount", dv.HostPath)
		}
	}
	if !su.Proxy {
		t.Errorf("setup %+v: proxy mode always", su)
	}
	if got := stack.CapabilitiesOf(st); fmt.Sprint(got) != fmt.Sprint(Capabilities) {
		t.Errorf("capabilities %v, declared %v", got, Capabilities)
	}
	if code, _ := get(t, m0Proxy.APIURL+"/proxies/model-0"); code != http.StatusOK {
		t.Errorf("toxiproxy has no proxy model-0: %d", code)
	}

	vs, err := stack.Versions(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		if (v.Role == stack.RoleModel || v.Role == stack.RoleGateway) && (v.Version == "" || v.ImageID == "") {
			t.Errorf("version of %s: %+v", v.Service, v)
		}
	}

	// Replacer: a canary beside the others, a replaced replica, removal.
	var r stack.Replacer = st
	canary, err := r.AddService(ctx, "canary", stack.RoleModel, stack.WithArgs("--extra-latency", "1ms"))
	if err != nil {
		t.Fatal(err)
	}
	canaryProxy, _ := st.FaultProxy(ctx, "canary")
	if canaryProxy == nil || canary.URL == "" {
		t.Errorf("canary = %+v, proxy %+v", canary, canaryProxy)
	}
	if code, body := get(t, canary.URL+"/version"); code != 200 || !strings.Contains(body, "extra") {
		t.Logf("canary /version: %d %s", code, body)
	}
	if code, _ := get(t, canaryProxy.APIURL+"/proxies/canary"); code != http.StatusOK {
		t.Errorf("no proxy for the canary: %d", code)
	}
	before, _ := st.Service(ctx, "model-1")
	after, err := r.ReplaceService(ctx, "model-1", stack.WithModelVersion("2.0.0"))
	if err != nil {
		t.Fatal(err)
	}
	if after.ContainerID == before.ContainerID || after.URL != before.URL {
		t.Errorf("replace: container %s -> %s, url %s -> %s", before.ContainerID[:12], after.ContainerID[:12], before.URL, after.URL)
	}
	cfg, _ := os.ReadFile(filepath.Join(mustVolume(t, st, after.Name).HostPath, "config.json"))
	if !strings.Contains(string(cfg), "2.0.0") {
		t.Errorf("model-1 config after replace: %s", cfg)
	}
	if err := r.RemoveService(ctx, "canary"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Service(ctx, "canary"); !errors.Is(err, stack.ErrNotFound) {
		t.Errorf("canary still there: %v", err)
	}
	if code, _ := get(t, m0Proxy.APIURL+"/proxies/canary"); code != http.StatusNotFound {
		t.Errorf("canary proxy still there: %d", code)
	}

	// A second gateway instance shares the config and the database.
	gwB, err := r.AddService(ctx, "gateway-b", stack.RoleGateway)
	if err != nil {
		t.Fatal(err)
	}
	if gwB.URL == gw.URL {
		t.Errorf("second gateway shares the URL %s", gw.URL)
	}
	if v, _ := st.Volume(ctx, gwB.Name, stack.VolumeData); v.HostPath != dv.HostPath {
		t.Errorf("second gateway data %s, first %s", v.HostPath, dv.HostPath)
	}
	req, _ := http.NewRequest(http.MethodGet, gwB.URL+"/v1/models", nil)
	req.Header.Set("Authorization", "Bearer "+st.APIKey())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("second gateway /v1/models: %d", resp.StatusCode)
	}
	gw2, err := r.ReplaceService(ctx, "gateway")
	if err != nil {
		t.Fatal(err)
	}
	if gw2.URL != gw.URL || gw2.ContainerID == gw.ContainerID {
		t.Errorf("replaced gateway: url %s -> %s, same container %v", gw.URL, gw2.URL, gw2.ContainerID == gw.ContainerID)
	}
	if err := r.RemoveService(ctx, "gateway-b"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.AddService(ctx, "p2", stack.RoleProxy); !errors.Is(err, stack.ErrUnsupported) {
		t.Errorf("adding a proxy: %v", err)
	}
}

func mustVolume(t *testing.T, st *Stack, service string) stack.Volume {
	t.Helper()
	v, err := st.Volume(context.Background(), service, stack.VolumeModels)
	if err != nil {
		t.Fatalf("%s: %v", service, err)
	}
	return v
}

func TestStartNeverHealthyNamesServiceAndCleansUp(t *testing.T) {
	skipUnlessDocker(t)
	st, err := startTest(t, WithReplicas(1), WithProxyMode(ProxyNever),
		WithHealthPath("model", "/no-such-health"), WithHealthTimeout(3*time.Second))
	if err == nil {
		t.Fatal("start succeeded with a health path that never answers 200")
	}
	if st == nil {
		t.Fatal("no partial stack returned for cleanup")
	}
	for _, want := range []string{"model-0 never became healthy", "last answer from GET /no-such-health: 404"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestStartPortConflictNamesService(t *testing.T) {
	skipUnlessDocker(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	_, err = startTest(t, WithReplicas(1), WithProxyMode(ProxyNever), WithHostPort("gateway", port))
	want := fmt.Sprintf("gateway: host port 127.0.0.1:%d is already in use", port)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want %q", err, want)
	}
}

func TestImageBuildFailureShowsLogTail(t *testing.T) {
	skipUnlessDocker(t)
	ctx := context.Background()
	cli, err := dockerhost.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	files := []contextFile{{name: "Dockerfile", data: []byte("FROM scratch\nCOPY no-such-binary /x\n"), mode: 0o644}}
	err = buildImage(ctx, cli, files, "broken", "aiuptime-test/broken:"+randHex(4))
	if err == nil {
		t.Fatal("a build copying a missing file succeeded")
	}
	for _, want := range []string{"build log (tail):", "COPY no-such-binary"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}
