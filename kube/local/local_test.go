package local_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aiuptime/aiuptime/internal/proctest"
	"github.com/aiuptime/aiuptime/kube/local"
)

// childEnv makes the test binary a process that runs Up in the state dir
// it names, prints "UP <kubeconfig>", and waits to be killed.
const childEnv = "KUBE_LOCAL_TEST_CHILD_STATE"

func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		c, err := local.Up(context.Background(), local.WithStateDir(dir))
		if err != nil {
			fmt.Fprintln(os.Stderr, "child Up:", err)
			os.Exit(3)
		}
		fmt.Println("UP", c.Kubeconfig)
		time.Sleep(time.Hour) // until the parent kills it
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// binDir returns the dir of the built binaries, or skips the test.
func binDir(t *testing.T) string {
	t.Helper()
	dir, err := local.BinDir()
	if err == nil {
		err = local.CheckBinaries(dir)
	}
	if err != nil {
		t.Skipf("skipping: %v", err)
	}
	return dir
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// TestClusterRunsDeployment brings a cluster up, runs a 3-replica
// Deployment on a kwok node through the API (plain HTTP and JSON with the
// kubeconfig's client certificate), and takes it down without a trace.
func TestClusterRunsDeployment(t *testing.T) {
	bin := binDir(t)
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "cluster")
	start := time.Now()
	c, err := local.Up(ctx, local.WithStateDir(dir), local.WithBinDir(bin), local.WithName("test"), local.WithLogger(testLogger(t)))
	t.Cleanup(func() { _ = local.Down(context.Background(), dir) })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("startup: apiserver /readyz %v after etcd started; Up returned (all healthy, default ServiceAccount made) after %v",
		c.ReadyAfter.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	logRSS(t, "after Up", c.Processes)

	api, err := c.HTTPClient()
	if err != nil {
		t.Fatal(err)
	}
	node := map[string]any{
		"apiVersion": "v1", "kind": "Node",
		"metadata": map[string]any{
			"name":        "kwok-node-0",
			"annotations": map[string]string{strings.Split(local.FakeNodeAnnotation, "=")[0]: strings.Split(local.FakeNodeAnnotation, "=")[1]},
			"labels":      map[string]string{"type": "kwok"},
		},
	}
	call(t, api, http.MethodPost, c.Server+"/api/v1/nodes", node, nil)
	replicas := 3
	deploy := map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": "web", "namespace": "default"},
		"spec": map[string]any{
			"replicas": replicas,
			"selector": map[string]any{"matchLabels": map[string]string{"app": "web"}},
			"template": map[string]any{
				"metadata": map[string]any{"labels": map[string]string{"app": "web"}},
				"spec": map[string]any{
					"nodeSelector": map[string]string{"type": "kwok"},
					"containers":   []map[string]any{{"name": "web", "image": "aiuptime/modelserver:dev"}},
				},
			},
		},
	}
	created := time.Now()
	call(t, api, http.MethodPost, c.Server+"/apis/apps/v1/namespaces/default/deployments", deploy, nil)
	proctest.Poll(t, 2*time.Minute, "3 ready replicas", func() error {
		var d struct {
			Status struct {
				ReadyReplicas int `json:"readyReplicas"`
			} `json:"status"`
		}
		call(t, api, http.MethodGet, c.Server+"/apis/apps/v1/namespaces/default/deployments/web", nil, &d)
		if d.Status.ReadyReplicas != replicas {
			return fmt.Errorf("%d ready", d.Status.ReadyReplicas)
		}
		return nil
	})
	t.Logf("deployment: %d replicas ready %v after create", replicas, time.Since(created).Round(time.Millisecond))
	logRSS(t, "with the deployment", c.Processes)

	downStart := time.Now()
	if err := c.Down(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("down took %v", time.Since(downStart).Round(time.Millisecond))
	assertGone(t, dir, c.Processes)
	if err := c.Down(ctx); err != nil {
		t.Fatalf("second Down: %v", err)
	}
}

// TestDownAfterStarterKilled: the cluster outlives a SIGKILL of the
// process that ran Up, and Down from another process still removes all.
func TestDownAfterStarterKilled(t *testing.T) {
	bin := binDir(t)
	dir := filepath.Join(t.TempDir(), "cluster")
	t.Cleanup(func() { _ = local.Down(context.Background(), dir) })
	t.Setenv(childEnv, dir)
	t.Setenv(local.BinEnv, bin)
	child := proctest.Start(t, os.Args[0], "-test.run=^$")
	proctest.Poll(t, 3*time.Minute, "child's cluster up", func() error {
		if child.Exited() {
			t.Fatalf("child exited: %v\n%s", child.Err(), child.Output())
		}
		if !strings.Contains(child.Output(), "UP ") {
			return errors.New("not yet")
		}
		return nil
	})
	st, err := local.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Owner != child.PID() {
		t.Errorf("state records owner pid %d; the child is %d", st.Owner, child.PID())
	}
	child.Kill() // SIGKILL, and reaped
	for _, p := range st.Processes {
		if !p.Ours() {
			t.Errorf("%s (pid %d) died with the process that started it", p.Name, p.PID)
		}
	}
	if err := local.Down(t.Context(), dir, local.WithLogger(testLogger(t))); err != nil {
		t.Fatal(err)
	}
	assertGone(t, dir, st.Processes)
}

// assertGone checks that no process and no file of the cluster is left.
func assertGone(t *testing.T, dir string, procs []*local.Process) {
	t.Helper()
	for _, p := range procs {
		if p.Ours() {
			t.Errorf("%s (pid %d) still runs", p.Name, p.PID)
		}
	}
	if strays, err := local.Strays(dir); err != nil || len(strays) > 0 {
		t.Errorf("processes naming %s: %v (%v)", dir, strays, err)
	}
	if _, err := os.Lstat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("state dir %s left behind (%v)", dir, err)
	}
}

// logRSS logs the resident memory of each process and their sum.
func logRSS(t *testing.T, when string, procs []*local.Process) {
	t.Helper()
	var total int64
	var parts []string
	for _, p := range procs {
		rss, err := local.RSS(p.PID)
		if err != nil {
			t.Errorf("RSS of %s: %v", p.Name, err)
			continue
		}
		total += rss
		parts = append(parts, fmt.Sprintf("%s %d MiB", p.Name, rss>>20))
	}
	t.Logf("RSS %s: %s; total %d MiB", when, strings.Join(parts, ", "), total>>20)
}

// call sends body as JSON and decodes a 2xx answer into out (when not
// nil), failing t otherwise.
func call(t *testing.T, c *http.Client, method, url string, body, out any) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %s: %s", method, url, resp.Status, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: decode: %v", method, url, err)
		}
	}
}
