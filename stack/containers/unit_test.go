package containers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/google/go-cmp/cmp"

	"github.com/aiuptime/aiuptime/internal/gwconfig"
	"github.com/aiuptime/aiuptime/internal/proctest"
	"github.com/aiuptime/aiuptime/stack"
)

func TestRenderGatewayConfig(t *testing.T) {
	b, err := gwconfig.Render("tiny", "sk-secret", "", gatewayDBPath, []gwconfig.Upstream{
		{ID: "model-0", APIBase: "http://toxiproxy:18000/v1"},
		{ID: "model-1", APIBase: "http://toxiproxy:18001/v1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := yaml.Unmarshal(b, &got); err != nil {
		t.Fatalf("config is not YAML: %v\n%s", err, b)
	}
	ml := got["model_list"].([]any)
	if len(ml) != 2 {
		t.Fatalf("model_list has %d entries, want 2", len(ml))
	}
	m1 := ml[1].(map[string]any)
	want := map[string]any{
		"model_name": "tiny",
		"litellm_params": map[string]any{
			"model": "hosted_vllm/tiny", "api_base": "http://toxiproxy:18001/v1", "api_key": "none", "weight": uint64(1),
		},
		"model_info": map[string]any{"id": "model-1"},
	}
	if d := cmp.Diff(want, m1); d != "" {
		t.Errorf("model_list[1] (-want +got):\n%s", d)
	}
	gs := got["general_settings"].(map[string]any)
	if gs["master_key"] != "sk-secret" || gs["database_path"] != "/data/gateway.db" {
		t.Errorf("general_settings = %v", gs)
	}
	rs := got["router_settings"].(map[string]any)
	for _, k := range []string{"routing_strategy", "num_retries", "allowed_fails", "cooldown_time", "timeout", "stream_timeout"} {
		if _, ok := rs[k]; !ok {
			t.Errorf("router_settings lacks %s", k)
		}
	}
}

func TestContentTag(t *testing.T) {
	a := []contextFile{{name: "Dockerfile", data: []byte("FROM scratch")}, {name: "bin", data: []byte{1, 2}}}
	b := []contextFile{{name: "Dockerfile", data: []byte("FROM scratch")}, {name: "bin", data: []byte{1, 3}}}
	// A name/content boundary shift must change the hash too.
	c := []contextFile{{name: "Dockerfile", data: []byte("FROM scratc")}, {name: "hbin", data: []byte{1, 2}}}
	ta, tb, tc := contentTag("gateway", a), contentTag("gateway", b), contentTag("gateway", c)
	if ta != contentTag("gateway", a) {
		t.Error("tag is not stable")
	}
	if ta == tb || ta == tc {
		t.Errorf("different contexts share a tag: %s %s %s", ta, tb, tc)
	}
	if len(ta) != len("aiuptime/gateway:")+12 {
		t.Errorf("tag %q: want aiuptime/gateway:<12 hex>", ta)
	}
}

func TestOptionsConfigMerge(t *testing.T) {
	o := defaultOptions()
	for _, opt := range []Option{
		WithArgs("model", "--ttft", "1ms"),
		WithArgs("model-1", "--error-rate", "0.5"),
		WithEnv("model", "A", "1"),
		WithEnv("model-1", "A", "2"),
		WithImage("model-1", "other:1"),
		WithHostPort("model", 9999), // a role cannot have one fixed port
		WithRestartPolicy("model", "always"),
	} {
		if err := opt(&o); err != nil {
			t.Fatal(err)
		}
	}
	got := o.config("model-1", stack.RoleModel)
	want := ServiceConfig{Image: "other:1", Args: []string{"--ttft", "1ms", "--error-rate", "0.5"}, Env: map[string]string{"A": "2"}, RestartPolicy: "always"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("config(model-1) (-want +got):\n%s", d)
	}
	if got := o.config("model-0", stack.RoleModel); got.Image != "" || len(got.Args) != 2 {
		t.Errorf("config(model-0) = %+v", got)
	}
}

func TestOptionErrors(t *testing.T) {
	for name, opt := range map[string]Option{
		"replicas":  WithReplicas(0),
		"size":      WithModelSize(-1),
		"proxy":     WithProxyMode("sometimes"),
		"run id":    WithRunID("Has Spaces"),
		"restart":   WithRestartPolicy("model", "maybe"),
		"port":      WithHostPort("gateway", 70000),
		"data size": WithDataVolumeSize(1024),
	} {
		o := defaultOptions()
		if err := opt(&o); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestUnescapeMount(t *testing.T) {
	if got := unescapeMount(`/tmp/a\040b`); got != "/tmp/a b" {
		t.Errorf("got %q", got)
	}
}

func TestReadBuildStreamError(t *testing.T) {
	in := `{"stream":"Step 1/2 : FROM scratch\n"}
{"stream":"Step 2/2 : COPY nope /nope\n"}
{"errorDetail":{"message":"COPY failed: file not found"},"error":"COPY failed: file not found"}
`
	log, err := readBuildStream(bytes.NewBufferString(in))
	if err == nil || err.Error() != "COPY failed: file not found" {
		t.Fatalf("err = %v", err)
	}
	if tail(log, 2) != "Step 2/2 : COPY nope /nope\nCOPY failed: file not found" {
		t.Errorf("log tail = %q", tail(log, 2))
	}
}

func skipUnlessRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

func TestLoopExt4VolumeFillsUp(t *testing.T) {
	skipUnlessRoot(t)
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		t.Skip("no loop devices")
	}
	dir := t.TempDir()
	mnt := filepath.Join(dir, "data")
	dev, err := mountLoopExt4(context.Background(), filepath.Join(dir, "data.img"), mnt, 8<<20)
	t.Cleanup(func() { _ = unmountDir(mnt) })
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := isMountPoint(mnt); !ok {
		t.Fatalf("%s not mounted (dev %s)", mnt, dev)
	}
	f, err := os.Create(filepath.Join(mnt, "fill"))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	var werr error
	for i := 0; i < 64 && werr == nil; i++ {
		_, werr = f.Write(buf)
		if werr == nil {
			werr = f.Sync()
		}
	}
	f.Close()
	if !errors.Is(werr, syscall.ENOSPC) {
		t.Fatalf("writing 64 MiB into an 8 MiB volume: err = %v, want ENOSPC", werr)
	}
	if err := unmountDir(mnt); err != nil {
		t.Fatal(err)
	}
	if ok, _ := isMountPoint(mnt); ok {
		t.Fatal("still mounted after unmountDir")
	}
	// Autoclear detaches the loop device once the last reference is gone;
	// the kernel does that asynchronously after the unmount (seen in CI:
	// still attached right after it), so poll for it.
	img := filepath.Join(dir, "data.img")
	proctest.Poll(t, 10*time.Second, dev+" detached by autoclear", func() error {
		b, err := os.ReadFile("/sys/block/" + filepath.Base(dev) + "/loop/backing_file")
		if err == nil && strings.TrimSpace(string(b)) == img {
			return fmt.Errorf("%s still attached to %s", dev, img)
		}
		return nil // detached (or reused for another file by now)
	})
}

// A data dir with two mounts stacked on it (and a file under the top one)
// is removed whole: every mount comes off before anything is deleted.
func TestRemoveRunDirStackedMounts(t *testing.T) {
	skipUnlessRoot(t)
	state := t.TempDir()
	if err := claimRunDir(state, "run-1"); err != nil {
		t.Fatal(err)
	}
	run := filepath.Join(state, "run-1")
	data := filepath.Join(run, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := syscall.Mount("tmpfs", data, "tmpfs", 0, "size=1m"); err != nil {
			t.Skipf("tmpfs mount: %v", err)
		}
	}
	t.Cleanup(func() { _, _ = unmountAll(data) })
	if err := os.WriteFile(filepath.Join(data, "f"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	var rm Removed
	if err := removeRunDir(state, "run-1", &rm); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(run); !os.IsNotExist(err) {
		t.Fatalf("run dir still there: %v", err)
	}
	if len(rm.Mounts) != 1 || len(rm.RunDirs) != 1 {
		t.Errorf("removed = %+v, want one mount dir and one run dir", rm)
	}
}

// A run dir is removed only when it holds its run's marker: a label that
// names another directory (or a run dir of an older version) is kept.
func TestRemoveRunDirNeedsItsMarker(t *testing.T) {
	state := t.TempDir()
	precious := filepath.Join(state, "etc")
	if err := os.MkdirAll(precious, 0o700); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(state, "r2")
	if err := claimRunDir(state, "r1"); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(other, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(other, RunMarker), []byte("r1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var rm Removed
	for _, run := range []string{"etc", "r2", "../..", "r1"} {
		if err := removeRunDir(state, run, &rm); err != nil {
			t.Fatal(err)
		}
	}
	for _, dir := range []string{precious, other} {
		if _, err := os.Stat(dir); err != nil {
			t.Errorf("%s removed without its run's marker", dir)
		}
	}
	if _, err := os.Stat(filepath.Join(state, "r1")); !os.IsNotExist(err) || len(rm.RunDirs) != 1 || len(rm.Kept) != 2 {
		t.Fatalf("removed %+v", rm)
	}
	if err := claimRunDir(state, "r2"); err == nil || !strings.Contains(err.Error(), "run id is taken") {
		t.Fatalf("claiming a taken run id: %v", err)
	}
}
