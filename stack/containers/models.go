package containers

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/go-connections/nat"
	"github.com/testcontainers/testcontainers-go"

	"github.com/aiuptime/aiuptime/files"
	"github.com/aiuptime/aiuptime/fixtures/modelserver"
	"github.com/aiuptime/aiuptime/stack"
)

// modelCacheDir holds generated model dirs, one per (name, version, size),
// so replicas and later runs serve byte-identical weights (the golden
// prompt gives the same answer on every replica, and a rollback to a
// version gives back its answers).
func modelCacheDir() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "aiuptime", "models")
	}
	return filepath.Join(os.TempDir(), "aiuptime", "models")
}

// generatedModel returns a cached model dir, generating it with the model
// server binary's gen-model when missing.
func generatedModel(ctx context.Context, genBin, name, version string, size int64) (string, error) {
	base := modelCacheDir()
	dir := filepath.Join(base, fmt.Sprintf("%s-%s-%d", safeName(name), safeName(version), size))
	if _, err := os.Stat(filepath.Join(dir, "manifest.json")); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		return "", fmt.Errorf("model cache: %w", err)
	}
	tmp, err := os.MkdirTemp(base, ".gen-")
	if err != nil {
		return "", fmt.Errorf("model cache: %w", err)
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "model")
	cmd := exec.CommandContext(ctx, genBin, "gen-model", "--dir", out, "--name", name,
		"--version", version, "--size", fmt.Sprint(size))
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("gen-model %s %s: %w: %s", name, version, err, tail(string(b), 10))
	}
	if err := os.Rename(out, dir); err != nil {
		if _, serr := os.Stat(filepath.Join(dir, "manifest.json")); serr == nil {
			return dir, nil // another process won the race
		}
		return "", fmt.Errorf("model cache: %w", err)
	}
	return dir, nil
}

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

// fillDir empties dst and copies the tree src into it.
func fillDir(src, dst string) error {
	if err := files.Empty(dst, nil); err != nil {
		return fmt.Errorf("fill %s: %w", dst, err)
	}
	if err := files.CopyTree(context.Background(), src, dst, files.TreeOptions{}); err != nil {
		return fmt.Errorf("fill %s: %w", dst, err)
	}
	return nil
}

// newModelSvc prepares a model service: config, host port, a models volume
// filled from src (unless spec reuses another service's volume).
func (s *Stack) newModelSvc(ctx context.Context, name string, spec stack.ServiceSpec, src string) (*svc, error) {
	cfg := s.o.config(name, stack.RoleModel)
	sv := &svc{
		name: name, containerName: "aiuptime-" + s.runID + "-" + name, role: stack.RoleModel,
		image: s.images[stack.RoleModel], port: nat.Port(modelserver.Port),
		healthPath: modelserver.HealthPath, restart: DefaultRestartPolicy,
		args: cfg.Args, env: cfg.Env, modelVersion: s.o.modelVersion,
	}
	if !s.o.fixtureServer() {
		sv.port = nat.Port(fmt.Sprintf("%d/tcp", s.o.server.Port))
		sv.healthPath = s.o.server.HealthPath
	}
	if cfg.Image != "" {
		sv.image = cfg.Image
	}
	if cfg.HealthPath != "" {
		sv.healthPath = cfg.HealthPath
	}
	if cfg.RestartPolicy != "" {
		sv.restart = cfg.RestartPolicy
	}
	applySpec(sv, spec)
	port, err := hostPort(cfg.HostPort)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	sv.hostPort = port
	if spec.ModelVolume != "" && spec.ModelVersion == "" {
		other, ok := s.svcs[spec.ModelVolume]
		if !ok {
			return nil, fmt.Errorf("%s: models volume of %s: %w", name, spec.ModelVolume, stack.ErrNotFound)
		}
		sv.modelVolume, sv.volumes = other.modelVolume, slices.Clone(other.volumes)
		sv.modelVersion = other.modelVersion
		return sv, nil
	}
	vname := sv.containerName + "-models"
	v, err := s.cli.VolumeCreate(ctx, volume.CreateOptions{Name: vname, Labels: s.labels(name, stack.RoleModel)})
	if err != nil {
		return nil, fmt.Errorf("%s: create volume: %w", name, err)
	}
	// A server whose image carries its models gets the volume empty:
	// Docker fills it from the image when the container first mounts it.
	if src != "" {
		if err := fillDir(src, v.Mountpoint); err != nil {
			return nil, fmt.Errorf("%s: fill models volume (the Docker volume dir must be reachable from this host): %w", name, err)
		}
	}
	sv.modelVolume = vname
	sv.volumes = []stack.Volume{{Purpose: stack.VolumeModels, Name: vname, HostPath: v.Mountpoint, MountPath: s.modelsMount()}}
	return sv, nil
}

func applySpec(sv *svc, spec stack.ServiceSpec) {
	if spec.Image != "" {
		sv.image = spec.Image
	}
	if len(spec.Args) > 0 {
		sv.args = append(slices.Clone(sv.args), spec.Args...)
	}
	if len(spec.Env) > 0 {
		env := map[string]string{}
		for k, v := range sv.env {
			env[k] = v
		}
		for k, v := range spec.Env {
			env[k] = v
		}
		sv.env = env
	}
	if spec.ModelVersion != "" {
		sv.modelVersion = spec.ModelVersion
	}
}

// modelsMount is where the model servers read their models.
func (s *Stack) modelsMount() string {
	if s.o.fixtureServer() {
		return modelsMount
	}
	return s.o.server.ModelsMount
}

func (s *Stack) runModel(ctx context.Context, sv *svc, timeout time.Duration) error {
	if !s.o.fixtureServer() {
		return s.runServer(ctx, sv, timeout)
	}
	args := []string{"--model-dir", modelsMount, "--port", sv.port.Port(), "--served-model-name", s.o.served()}
	if s.modelAPIKey != "" {
		args = append(args, "--api-key", s.modelAPIKey)
	}
	if s.o.loadRate > 0 {
		args = append(args, "--load-rate", fmt.Sprint(s.o.loadRate))
	}
	if s.o.ttft > 0 {
		args = append(args, "--ttft", s.o.ttft.String())
	}
	if s.o.itl > 0 {
		args = append(args, "--itl", s.o.itl.String())
	}
	args = append(args, sv.args...)
	s.log.Info("starting", "service", sv.name, "image", sv.image, "port", sv.hostPort)
	c, err := modelserver.Run(ctx, sv.image,
		testcontainers.WithName(sv.containerName),
		testcontainers.WithCmd(args...),
		testcontainers.WithEnv(sv.env),
		testcontainers.WithLabels(s.labels(sv.name, stack.RoleModel)),
		s.networkOpt(sv.name),
		hostConfigOpt(sv.port, sv.hostPort, sv.restart, []mount.Mount{{Type: mount.TypeVolume, Source: sv.modelVolume, Target: modelsMount}}),
		testcontainers.WithWaitStrategy(&healthWait{service: sv.name, port: sv.port, path: sv.healthPath, timeout: timeout, log: s.log}),
	)
	if c != nil {
		sv.containerID = c.GetContainerID()
	}
	return classifyStartErr(sv.name, sv.hostPort, err)
}

// runServer starts a model server that is not the project's simulator: its
// image's own command (plus the stack file's args), its models volume at
// the kind's mount path, and the kind's health path.
func (s *Stack) runServer(ctx context.Context, sv *svc, timeout time.Duration) error {
	s.log.Info("starting", "service", sv.name, "server", s.o.server.Name, "image", sv.image, "port", sv.hostPort)
	req := testcontainers.GenericContainerRequest{
		ContainerRequest: testcontainers.ContainerRequest{Image: sv.image, ExposedPorts: []string{string(sv.port)}, Cmd: sv.args},
		Started:          true,
	}
	opts := []testcontainers.ContainerCustomizer{
		testcontainers.WithName(sv.containerName),
		testcontainers.WithEnv(sv.env),
		testcontainers.WithLabels(s.labels(sv.name, stack.RoleModel)),
		s.networkOpt(sv.name),
		hostConfigOpt(sv.port, sv.hostPort, sv.restart, []mount.Mount{{Type: mount.TypeVolume, Source: sv.modelVolume, Target: s.modelsMount()}}),
		testcontainers.WithWaitStrategy(&healthWait{service: sv.name, port: sv.port, path: sv.healthPath, timeout: timeout, log: s.log}),
	}
	for _, o := range opts {
		if err := o.Customize(&req); err != nil {
			return fmt.Errorf("%s: %w", sv.name, err)
		}
	}
	c, err := testcontainers.GenericContainer(ctx, req)
	if c != nil {
		sv.containerID = c.GetContainerID()
	}
	return classifyStartErr(sv.name, sv.hostPort, err)
}
