package container

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dcontainer "github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/docker/go-connections/nat"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/stack"
)

const serverSrc = `package main

import (
	"net/http"
	"os"
)

func main() {
	http.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) { h, _ := os.Hostname(); w.Write([]byte(h)) })
	http.ListenAndServe(":8080", nil)
}
`

var runID = fmt.Sprintf("chaos-container-test-%d", os.Getpid())

type env struct {
	cli   *client.Client
	image string
	net   string
}

func setup(t *testing.T) env {
	if os.Geteuid() != 0 {
		t.Skip("needs root for docker")
	}
	cli, err := NewClient()
	if err != nil {
		t.Skip(err)
	}
	if _, err := cli.Ping(context.Background()); err != nil {
		t.Skipf("docker unavailable: %v", err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(serverSrc), 0o644); err != nil {
		t.Fatal(err)
	}
	_ = os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module srv\n\ngo 1.22\n"), 0o644)
	build := exec.Command("go", "build", "-o", "srv", ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v %s", err, out)
	}
	_ = os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nCOPY srv /srv\nENTRYPOINT [\"/srv\"]\n"), 0o644)
	img := "aiuptime-chaos-test:" + runID
	if out, err := exec.Command("docker", "build", "-q", "--label", stack.LabelRun+"="+runID, "-t", img, dir).CombinedOutput(); err != nil {
		t.Fatalf("docker build: %v %s", err, out)
	}
	netName := "aiuptime-chaos-" + runID
	if _, err := cli.NetworkCreate(context.Background(), netName, network.CreateOptions{Labels: map[string]string{stack.LabelRun: runID}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		cs, _ := cli.ContainerList(ctx, dcontainer.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", stack.LabelRun+"="+runID))})
		for _, c := range cs {
			_ = cli.ContainerRemove(ctx, c.ID, dcontainer.RemoveOptions{Force: true})
		}
		_ = cli.NetworkRemove(ctx, netName)
		_, _ = cli.ImageRemove(ctx, img, image.RemoveOptions{Force: true})
	})
	return env{cli: cli, image: img, net: netName}
}

func (e env) run(t *testing.T, name string) (string, string) {
	ctx := context.Background()
	cfg := &dcontainer.Config{Image: e.image, Labels: map[string]string{stack.LabelRun: runID, stack.LabelService: name}, ExposedPorts: nat.PortSet{"8080/tcp": {}}}
	hc := &dcontainer.HostConfig{PortBindings: nat.PortMap{"8080/tcp": {{HostIP: "127.0.0.1", HostPort: ""}}}, NetworkMode: dcontainer.NetworkMode(e.net)}
	nc := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{e.net: {Aliases: []string{name + "-alias"}}}}
	c, err := e.cli.ContainerCreate(ctx, cfg, hc, nc, nil, name+"-"+runID)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.cli.ContainerStart(ctx, c.ID, dcontainer.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	ins, _ := e.cli.ContainerInspect(ctx, c.ID)
	url := "http://127.0.0.1:" + ins.NetworkSettings.Ports["8080/tcp"][0].HostPort
	waitUp(t, url)
	return c.ID, url
}

func up(url string) bool {
	c := http.Client{Timeout: 300 * time.Millisecond}
	resp, err := c.Get(url + "/health")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == 200
}

func waitUp(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !up(url) {
		if time.Now().After(deadline) {
			t.Fatalf("%s never came up", url)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestContainerFaults(t *testing.T) {
	e := setup(t)
	for _, kind := range []string{KindKill, KindStop, KindPause, KindRestart, KindRemove} {
		t.Run(kind, func(t *testing.T) {
			name := strings.TrimPrefix(kind, "container-")
			id, url := e.run(t, name)
			j, _ := chaos.OpenJournal(chaos.WithStateDir(t.TempDir()))
			f := &Fault{Kind: kind, Service: name, ContainerID: id, Docker: e.cli, Deps: chaos.Deps{Journal: j, RunID: runID}, Spec: Spec{StopTimeout: time.Second}}
			start := time.Now()
			rev, err := f.Inject(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			injected := time.Since(start)
			ins, err := e.cli.ContainerInspect(context.Background(), name+"-"+runID)
			switch kind {
			case KindKill, KindStop:
				if err != nil || ins.State.Running {
					t.Fatalf("still running after %s: %v", kind, err)
				}
			case KindPause:
				if !ins.State.Paused || up(url) {
					t.Fatal("not paused")
				}
			case KindRemove:
				if err == nil {
					t.Fatal("not removed")
				}
			}
			start = time.Now()
			if err := rev(context.Background()); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: inject %v, revert %v", kind, injected, time.Since(start))
			if recs, _ := j.List(); len(recs) != 0 {
				t.Fatalf("journal left: %v", recs)
			}
			ins, err = e.cli.ContainerInspect(context.Background(), name+"-"+runID)
			if err == nil && kind != KindRemove {
				// Docker re-allocates random host ports on start; the stack re-inspects.
				url = "http://127.0.0.1:" + ins.NetworkSettings.Ports["8080/tcp"][0].HostPort
			}
			waitUp(t, url) // a recreated container keeps its published port
			if err != nil || ins.Config.Labels[stack.LabelRun] != runID {
				t.Fatalf("labels lost: %v", err)
			}
			if a := ins.NetworkSettings.Networks[e.net].Aliases; !contains(a, name+"-alias") {
				t.Fatalf("alias lost: %v", a)
			}
		})
	}
}

func TestRefusesForeignContainer(t *testing.T) {
	e := setup(t)
	id, _ := e.run(t, "foreign")
	f := &Fault{Kind: KindStop, Service: "foreign", ContainerID: id, Docker: e.cli, Deps: chaos.Deps{RunID: "some-other-run"}}
	if _, err := f.Inject(context.Background()); err == nil || !strings.Contains(err.Error(), "not a service of the stack") {
		t.Fatalf("want ErrNotInStack, got %v", err)
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
