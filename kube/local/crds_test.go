package local_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/aiuptime/aiuptime/kube/local"
)

// crdDir returns the dir of the generated Chaos Mesh CRDs next to the
// binaries, or skips the test.
func crdDir(t *testing.T, bin string) string {
	t.Helper()
	dir := filepath.Join(bin, local.ChaosMeshCRDsDir)
	files, err := local.CRDFiles(dir)
	if err != nil {
		t.Skipf("skipping: %v", err)
	}
	if len(files) != local.ChaosMeshCRDs {
		t.Fatalf("%s holds %d CRDs, want %d: run `make kube`", dir, len(files), local.ChaosMeshCRDs)
	}
	return dir
}

// TestChaosMeshCRDs brings a cluster up with the Chaos Mesh CRDs, checks
// all of them established, applies them again (a no-op), drives a
// NetworkChaos through create, list by the drill's label and delete with
// plain HTTP and JSON, and takes the cluster down without a trace.
func TestChaosMeshCRDs(t *testing.T) {
	bin := binDir(t)
	crds := crdDir(t, bin)
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "cluster")
	start := time.Now()
	c, err := local.Up(ctx, local.WithStateDir(dir), local.WithBinDir(bin), local.WithName("test"),
		local.WithLogger(testLogger(t)), local.WithChaosMeshCRDs())
	t.Cleanup(func() { _ = local.Down(context.Background(), dir) })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Up with the CRDs established took %v (apiserver ready after %v)",
		time.Since(start).Round(time.Millisecond), c.ReadyAfter.Round(time.Millisecond))
	logRSS(t, "with the CRDs", c.Processes)

	api, err := c.HTTPClient()
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Items []struct {
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
			Spec struct {
				Group string `json:"group"`
			} `json:"spec"`
			Status struct {
				Conditions []struct{ Type, Status string } `json:"conditions"`
			} `json:"status"`
		} `json:"items"`
	}
	call(t, api, http.MethodGet, c.Server+"/apis/apiextensions.k8s.io/v1/customresourcedefinitions", nil, &list)
	established := 0
	for _, crd := range list.Items {
		if crd.Spec.Group != "chaos-mesh.org" {
			continue
		}
		if slices.ContainsFunc(crd.Status.Conditions, func(c struct{ Type, Status string }) bool {
			return c.Type == "Established" && c.Status == "True"
		}) {
			established++
		} else {
			t.Errorf("crd %s not established: %+v", crd.Metadata.Name, crd.Status.Conditions)
		}
	}
	if established != local.ChaosMeshCRDs {
		t.Errorf("%d chaos-mesh.org CRDs established, want %d", established, local.ChaosMeshCRDs)
	}

	var largest json.RawMessage // WorkflowNode: 1.3 MB of YAML
	call(t, api, http.MethodGet, c.Server+"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/workflownodes.chaos-mesh.org", nil, &largest)
	t.Logf("the largest CRD, workflownodes.chaos-mesh.org, is %d KB of JSON as served (with managedFields)", len(largest)>>10)

	again := time.Now()
	names, err := local.InstallCRDs(ctx, c.Kubeconfig, crds)
	if err != nil {
		t.Fatalf("apply again: %v", err)
	}
	t.Logf("applying the %d CRDs again (unchanged) took %v", len(names), time.Since(again).Round(time.Millisecond))
	if !slices.Contains(names, "networkchaos.chaos-mesh.org") {
		t.Errorf("InstallCRDs returned %v, no networkchaos.chaos-mesh.org", names)
	}

	run := "test-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	base := c.Server + "/apis/chaos-mesh.org/v1alpha1/namespaces/default/networkchaos"
	nc := map[string]any{
		"apiVersion": "chaos-mesh.org/v1alpha1", "kind": "NetworkChaos",
		"metadata": map[string]any{"name": "delay-model", "labels": map[string]string{"aiuptime.run": run}},
		"spec": map[string]any{
			"action":   "delay",
			"mode":     "all",
			"selector": map[string]any{"namespaces": []string{"default"}, "labelSelectors": map[string]string{"app": "model"}},
			"delay":    map[string]any{"latency": "100ms", "jitter": "10ms"},
			"duration": "30s",
		},
	}
	call(t, api, http.MethodPost, base, nc, nil)
	selected := base + "?labelSelector=" + url.QueryEscape("aiuptime.run="+run)
	if got := chaosNames(t, api, selected); !slices.Equal(got, []string{"delay-model"}) {
		t.Errorf("NetworkChaos labelled aiuptime.run=%s: %v, want [delay-model]", run, got)
	}
	if got := chaosNames(t, api, base+"?labelSelector="+url.QueryEscape("aiuptime.run=other")); len(got) != 0 {
		t.Errorf("NetworkChaos labelled aiuptime.run=other: %v, want none", got)
	}
	call(t, api, http.MethodDelete, base+"/delay-model", nil, nil)
	if got := chaosNames(t, api, selected); len(got) != 0 {
		t.Errorf("after delete, NetworkChaos labelled aiuptime.run=%s: %v", run, got)
	}

	if err := c.Down(ctx); err != nil {
		t.Fatal(err)
	}
	assertGone(t, dir, c.Processes)
}

// chaosNames lists the objects at u and returns their names.
func chaosNames(t *testing.T, api *http.Client, u string) []string {
	t.Helper()
	var l struct {
		Items []struct {
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		} `json:"items"`
	}
	call(t, api, http.MethodGet, u, nil, &l)
	names := make([]string, 0, len(l.Items))
	for _, it := range l.Items {
		names = append(names, it.Metadata.Name)
	}
	return names
}

// TestInstallCRDsNone: a dir without CRD YAML is ErrNoCRDs, before any
// connection.
func TestInstallCRDsNone(t *testing.T) {
	_, err := local.InstallCRDs(t.Context(), filepath.Join(t.TempDir(), "kubeconfig"), t.TempDir())
	if err == nil || !errors.Is(err, local.ErrNoCRDs) {
		t.Fatalf("InstallCRDs on an empty dir: %v, want ErrNoCRDs", err)
	}
}
