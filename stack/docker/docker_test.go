package docker_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/aiuptime/aiuptime/stack"
	"github.com/aiuptime/aiuptime/stack/containers"
	"github.com/aiuptime/aiuptime/stack/docker"
	"github.com/aiuptime/aiuptime/stack/dockerhost"
)

// TestAttachBySelector attaches to a deployment started by the containers
// provider, selected by its run label: roles and names come from the
// aiuptime.role and aiuptime.service labels, handles from docker inspect.
func TestAttachBySelector(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: no containers")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := dockerhost.Connect(ctx); err != nil {
		t.Skipf("docker: %v", err)
	}
	b := make([]byte, 4)
	rand.Read(b)
	id := "dt" + hex.EncodeToString(b)
	base, err := containers.Start(ctx, containers.WithRunID(id), containers.WithReplicas(1),
		containers.WithProxyMode(containers.ProxyNever), containers.WithModelSize(1<<20), containers.WithStateDir(t.TempDir()))
	t.Cleanup(func() {
		if base != nil {
			base.Stop(context.Background())
		}
	})
	if err != nil {
		t.Fatal(err)
	}

	st, err := docker.Attach(ctx, docker.WithSelector(map[string]string{stack.LabelRun: id}),
		docker.WithAPIKey(base.APIKey()), docker.WithModelName(base.ModelName()))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Stop(ctx)
	svcs, err := st.Services(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(svcs) != 2 || svcs[0].Name != "gateway" || svcs[1].Name != "model-0" {
		t.Fatalf("services = %+v", svcs)
	}
	for _, s := range svcs {
		want, err := base.Service(ctx, s.Name)
		if err != nil {
			t.Fatal(err)
		}
		if s.ContainerID != want.ContainerID || s.URL != want.URL || s.Role != want.Role {
			t.Errorf("%s: attached %+v, started %+v", s.Name, s, want)
		}
		resp, err := http.Get(s.URL + s.HealthPath)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: health %d", s.Name, resp.StatusCode)
		}
	}
	if _, err := st.Volume(ctx, "gateway", stack.VolumeData); err != nil {
		t.Errorf("gateway data volume: %v", err)
	}
	if v, err := st.Volume(ctx, "model-0", stack.VolumeModels); err != nil || v.Name == "" {
		t.Errorf("model-0 models volume: %+v %v", v, err)
	}
	// The attached view offers what it declares, and finds the same
	// namespaces and ownership as the stack that started the containers.
	if got := stack.CapabilitiesOf(st); fmt.Sprint(got) != fmt.Sprint(docker.Capabilities) {
		t.Errorf("capabilities %v, declared %v", got, docker.Capabilities)
	}
	a, err := st.NetNS(ctx, "model-0")
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := base.NetNS(ctx, "model-0")
	if a != b2 {
		t.Errorf("netns %+v, the starting stack says %+v", a, b2)
	}
	if err := st.Owns(ctx, "model-0"); err != nil {
		t.Errorf("owns: %v", err)
	}
	if _, err := st.Service(ctx, "model-9"); !errors.Is(err, stack.ErrNotFound) {
		t.Errorf("unknown service: %v", err)
	}
	if _, err := docker.Attach(ctx, docker.WithProject("no-such-project-"+id)); err == nil {
		t.Error("attached to an empty project")
	}
}
