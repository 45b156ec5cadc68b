// Package stackfile reads stack files (YAML, strict, errors with
// file:line) and opens the stack they describe with the right provider:
//
//	st, err := stackfile.Open(ctx, "embedded")          // the default
//	st, err := stackfile.Open(ctx, "stacks/site.yaml", stackfile.WithLogger(l))
//	if st != nil { defer st.Stop(ctx) }                 // also after an error
//
// A stack file:
//
//	kind: containers          # containers (default) | docker | endpoints
//	model_name: aiuptime-tiny
//	replicas: 2               # containers
//	proxy: auto               # containers: auto | always | never
//	data_volume_size: 64MiB   # containers: the gateway's size-limited data volume
//	model: {version: 1.0.0, size: 16MiB, load_rate: 0, ttft: 20ms, itl: 5ms}
//	services:                 # by service name (gateway, model-1, proxy) or role (model)
//	  gateway: {image: ..., args: [...], env: {K: V}, port: 4000, health_path: /health/readiness}
//	  model:   {image: ..., restart_policy: unless-stopped}
//	api_key_env: LITELLM_MASTER_KEY   # docker, endpoints: where the gateway key is
//	docker:                   # kind docker: attach, create nothing
//	  project: litellm        # com.docker.compose.project, or:
//	  selector: {app: inference}
//	  roles: {litellm: gateway, vllm: model}   # compose service -> role
//	endpoints:                # kind endpoints: plain URLs, probe only
//	  - {name: gateway, role: gateway, url: "http://10.0.0.5:4000", health_path: /health/readiness}
//
// For kind containers, services.*.port is the host port to publish on
// 127.0.0.1; for kind docker it is the container port of the API.
package stackfile

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/aiuptime/aiuptime/stack"
)

// Embedded is the name that selects the embedded default stack.
const Embedded = "embedded"

// Stack kinds.
const (
	KindContainers = "containers"
	KindDocker     = "docker"
	KindEndpoints  = "endpoints"
)

// File is a decoded stack file.
type File struct {
	Kind           string             `yaml:"kind"`
	ModelName      string             `yaml:"model_name"`
	Replicas       int                `yaml:"replicas"`
	Proxy          string             `yaml:"proxy"`
	DataVolumeSize string             `yaml:"data_volume_size"`
	Model          Model              `yaml:"model"`
	Services       map[string]Service `yaml:"services"`
	APIKeyEnv      string             `yaml:"api_key_env"`
	Docker         Docker             `yaml:"docker"`
	Endpoints      []Endpoint         `yaml:"endpoints"`

	// Path is where the file was read from.
	Path string `yaml:"-"`
}

// Model is the generated model of a containers stack.
type Model struct {
	Version  string `yaml:"version"`
	Size     string `yaml:"size"`
	LoadRate string `yaml:"load_rate"`
	TTFT     string `yaml:"ttft"`
	ITL      string `yaml:"itl"`
}

// Service configures one service (by name) or every service of a role.
type Service struct {
	Image         string            `yaml:"image"`
	Args          []string          `yaml:"args"`
	Env           map[string]string `yaml:"env"`
	Port          int               `yaml:"port"`
	HealthPath    string            `yaml:"health_path"`
	RestartPolicy string            `yaml:"restart_policy"`
}

// Docker selects an existing deployment.
type Docker struct {
	Project  string            `yaml:"project"`
	Selector map[string]string `yaml:"selector"`
	Roles    map[string]string `yaml:"roles"`
}

// Endpoint is one plain-URL service.
type Endpoint struct {
	Name       string `yaml:"name"`
	Role       string `yaml:"role"`
	URL        string `yaml:"url"`
	HealthPath string `yaml:"health_path"`
	ModelName  string `yaml:"model_name"`
}

// Load reads and validates a stack file. Errors carry file:line.
func Load(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("stack file: %w", err)
	}
	return Parse(path, b)
}

// Parse decodes and validates a stack file's bytes; name is used in
// error messages.
func Parse(name string, b []byte) (*File, error) {
	var f File
	if err := yaml.UnmarshalWithOptions(b, &f, yaml.Strict()); err != nil {
		return nil, positioned(name, err)
	}
	f.Path = name
	ast, _ := parser.ParseBytes(b, 0)
	v := validator{name: name, file: ast}
	f.validate(&v)
	if err := errors.Join(v.errs...); err != nil {
		return nil, err
	}
	return &f, nil
}

// positioned turns a go-yaml error into "file:line:col: message".
func positioned(name string, err error) error {
	var ye yaml.Error
	if errors.As(err, &ye) && ye.GetToken() != nil {
		p := ye.GetToken().Position
		return fmt.Errorf("%s:%d:%d: %s", name, p.Line, p.Column, ye.GetMessage())
	}
	return fmt.Errorf("%s: %w", name, err)
}

type validator struct {
	name string
	file *ast.File
	errs []error
}

// errorf records an error at the line of the YAML path (e.g.
// "$.model.size"), or the file when the path is not in the file.
func (v *validator) errorf(path, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if v.file != nil {
		if p, err := yaml.PathString(path); err == nil {
			if n, err := p.FilterFile(v.file); err == nil && n != nil && n.GetToken() != nil {
				pos := n.GetToken().Position
				v.errs = append(v.errs, fmt.Errorf("%s:%d:%d: %s", v.name, pos.Line, pos.Column, msg))
				return
			}
		}
	}
	v.errs = append(v.errs, fmt.Errorf("%s: %s", v.name, msg))
}

func (f *File) validate(v *validator) {
	switch f.Kind {
	case "":
		f.Kind = KindContainers
	case KindContainers, KindDocker, KindEndpoints:
	default:
		v.errorf("$.kind", "kind %q: want containers, docker or endpoints", f.Kind)
	}
	if f.Replicas < 0 || f.Replicas > 16 {
		v.errorf("$.replicas", "replicas %d: want 1..16", f.Replicas)
	}
	switch f.Proxy {
	case "", "auto", "always", "never":
	default:
		v.errorf("$.proxy", "proxy %q: want auto, always or never", f.Proxy)
	}
	if _, err := ParseSize(f.DataVolumeSize); err != nil {
		v.errorf("$.data_volume_size", "data_volume_size: %v", err)
	}
	if _, err := ParseSize(f.Model.Size); err != nil {
		v.errorf("$.model.size", "model.size: %v", err)
	}
	if _, err := ParseSize(f.Model.LoadRate); err != nil {
		v.errorf("$.model.load_rate", "model.load_rate: %v", err)
	}
	for _, d := range []struct{ key, val string }{{"ttft", f.Model.TTFT}, {"itl", f.Model.ITL}} {
		if _, err := parseDuration(d.val); err != nil {
			v.errorf("$.model."+d.key, "model.%s: %v", d.key, err)
		}
	}
	for name, s := range f.Services {
		path := "$.services." + name
		if s.Port < 0 || s.Port > 65535 {
			v.errorf(path+".port", "services.%s.port %d: want 1..65535", name, s.Port)
		}
		switch s.RestartPolicy {
		case "", "no", "always", "unless-stopped", "on-failure":
		default:
			v.errorf(path+".restart_policy", "services.%s.restart_policy %q: want no, always, unless-stopped or on-failure", name, s.RestartPolicy)
		}
		if s.HealthPath != "" && !strings.HasPrefix(s.HealthPath, "/") {
			v.errorf(path+".health_path", "services.%s.health_path %q: want a path starting with /", name, s.HealthPath)
		}
	}
	for svc, role := range f.Docker.Roles {
		if !validRole(role) {
			v.errorf("$.docker.roles."+svc, "docker.roles.%s %q: want gateway, model, proxy or monitor", svc, role)
		}
	}
	switch f.Kind {
	case KindDocker:
		if (f.Docker.Project == "") == (len(f.Docker.Selector) == 0) {
			v.errorf("$.docker", "kind docker needs exactly one of docker.project and docker.selector")
		}
	case KindEndpoints:
		if len(f.Endpoints) == 0 {
			v.errorf("$.endpoints", "kind endpoints needs at least one entry under endpoints")
		}
		seen := map[string]bool{}
		for i, e := range f.Endpoints {
			path := fmt.Sprintf("$.endpoints[%d]", i)
			if e.Name == "" {
				v.errorf(path, "endpoints[%d]: name is required", i)
			} else if seen[e.Name] {
				v.errorf(path+".name", "endpoints[%d]: duplicate name %q", i, e.Name)
			}
			seen[e.Name] = true
			if !validRole(e.Role) {
				v.errorf(path+".role", "endpoints[%d].role %q: want gateway, model, proxy or monitor", i, e.Role)
			}
			if !strings.HasPrefix(e.URL, "http://") && !strings.HasPrefix(e.URL, "https://") {
				v.errorf(path+".url", "endpoints[%d].url %q: want an http(s) URL", i, e.URL)
			}
		}
	}
}

func validRole(r string) bool {
	switch stack.Role(r) {
	case stack.RoleGateway, stack.RoleModel, stack.RoleProxy, stack.RoleMonitor:
		return true
	}
	return false
}

// ParseSize parses a byte size: "", "1048576", "16MiB", "1GiB", "512K",
// "2M", "1G" (K/M/G are binary, like the fixtures' flags).
func ParseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.m
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("size %q: want bytes, optionally with KiB, MiB or GiB", s)
	}
	return n * mult, nil
}

func parseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("duration %q: want e.g. 20ms", s)
	}
	return d, nil
}

// apiKey resolves api_key_env.
func (f *File) apiKey() (string, error) {
	if f.APIKeyEnv == "" {
		return "", nil
	}
	k, ok := os.LookupEnv(f.APIKeyEnv)
	if !ok {
		return "", fmt.Errorf("%s: api_key_env: environment variable %s is not set", f.Path, f.APIKeyEnv)
	}
	return k, nil
}
