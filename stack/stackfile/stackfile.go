// Package stackfile reads stack files (YAML, strict, errors with
// file:line) and opens the stack they describe with the right provider:
//
//	st, err := stackfile.Open(ctx, "embedded")          // the default
//	st, err := stackfile.Open(ctx, "stacks/site.yaml", stackfile.WithLogger(l))
//	if st != nil { defer st.Stop(ctx) }                 // also after an error
//
// A stack file:
//
//	kind: containers          # containers (default) | docker | endpoints | kubernetes
//	model_name: aiuptime-tiny # the name clients ask the gateway for
//	model_server: vllm        # the kind of model server: vllm (default) | ollama (stack.ServerNames)
//	served_model: tiny:latest # the name the model servers serve (default model_name)
//	replicas: 2               # containers
//	proxy: auto               # containers: auto | always | never
//	data_volume_size: 64MiB   # containers: the gateway's size-limited data volume
//	model: {version: 1.0.0, size: 16MiB, load_rate: 0, ttft: 20ms, itl: 5ms}
//	services:                 # by service name (gateway, model-1, proxy) or role (model)
//	  gateway: {image: ..., args: [...], env: {K: V}, port: 4000, health_path: /health/readiness}
//	  model:   {image: ..., restart_policy: unless-stopped}
//	api_key_env: LITELLM_MASTER_KEY   # where the gateway key is (containers: the key the embedded gateway gets)
//	docker:                   # kind docker: attach, create nothing
//	  project: litellm        # com.docker.compose.project, or:
//	  selector: {app: inference}
//	  roles: {litellm: gateway, vllm: model}   # compose service -> role
//	endpoints:                # kind endpoints: plain URLs, probe only
//	  - {name: gateway, role: gateway, url: "http://10.0.0.5:4000", health_path: /health/readiness}
//	kubernetes:               # kind kubernetes: attach to pods in one namespace, create nothing
//	  kubeconfig: /var/lib/aiuptime/kube/default/kubeconfig  # default $KUBECONFIG, else ~/.kube/config
//	  in_cluster: false       # or: the service account of the pod the harness runs in
//	  context: admin          # a context of the kubeconfig (default: its current one)
//	  namespace: aiuptime     # required; must carry the label aiuptime.io/drill=enabled
//	  roles:                  # role -> the pods that play it: a label selector, or a Deployment's
//	    gateway: {selector: "app=gateway"}
//	    model: {deployment: model}
//	  gateway_url: "http://127.0.0.1:30400"   # the gateway Service, as reached from the host
//	  gateway_service: aiuptime-gateway       # or: that Service's http://ClusterIP:port
//	  api_key_secret: {name: litellm, key: master-key}   # or api_key_env
//
// For kind containers, services.*.port is the host port to publish on
// 127.0.0.1; for kinds docker and kubernetes it is the container port of
// the API (kubernetes: default the pod's first declared TCP port).
package stackfile

import (
	"fmt"
	"os"
	"strings"

	"github.com/aiuptime/aiuptime/internal/yamldoc"
	"github.com/aiuptime/aiuptime/param"
	"github.com/aiuptime/aiuptime/stack"
	"github.com/aiuptime/aiuptime/units"
)

// Embedded is the name that selects the embedded default stack.
const Embedded = "embedded"

// Stack kinds.
const (
	KindContainers = "containers"
	KindDocker     = "docker"
	KindEndpoints  = "endpoints"
	KindKubernetes = "kubernetes"
)

// File is a decoded stack file.
type File struct {
	Kind           string             `yaml:"kind"`
	ModelName      string             `yaml:"model_name"`
	ModelServer    string             `yaml:"model_server"`
	ServedModel    string             `yaml:"served_model"`
	Replicas       int                `yaml:"replicas"`
	Proxy          string             `yaml:"proxy"`
	DataVolumeSize units.Size         `yaml:"data_volume_size"`
	Model          Model              `yaml:"model"`
	Services       map[string]Service `yaml:"services"`
	APIKeyEnv      string             `yaml:"api_key_env"`
	Docker         Docker             `yaml:"docker"`
	Endpoints      []Endpoint         `yaml:"endpoints"`
	Kubernetes     Kubernetes         `yaml:"kubernetes"`

	// Path is where the file was read from.
	Path string `yaml:"-"`
}

// Model is the generated model of a containers stack.
type Model struct {
	Version  string         `yaml:"version"`
	Size     units.Size     `yaml:"size"`
	LoadRate units.Size     `yaml:"load_rate"`
	TTFT     units.Duration `yaml:"ttft"`
	ITL      units.Duration `yaml:"itl"`
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

// Kubernetes selects pods in one namespace of a cluster (kind kubernetes).
type Kubernetes struct {
	// Kubeconfig is the kubeconfig file; empty means $KUBECONFIG, else
	// ~/.kube/config. A relative path is relative to the working directory.
	Kubeconfig string `yaml:"kubeconfig"`
	// InCluster uses the service account of the pod the harness runs in
	// (exclusive with Kubeconfig).
	InCluster bool `yaml:"in_cluster"`
	// Context is a context of the kubeconfig (default: its current one).
	Context string `yaml:"context"`
	// Namespace is the namespace of the pods (required). It must carry the
	// label aiuptime.io/drill=enabled or the stack refuses to open.
	Namespace string `yaml:"namespace"`
	// Roles maps a role (gateway, model, proxy, monitor) to the pods that
	// play it.
	Roles map[string]KubeRole `yaml:"roles"`
	// GatewayURL is the gateway's Service URL as reached from the host;
	// the probe goes through it. Without it the gateway pod's own address
	// is used.
	GatewayURL string `yaml:"gateway_url"`
	// GatewayService is the gateway's Service in the namespace: without
	// GatewayURL, its ClusterIP and port make the gateway's URL (reachable
	// from a node running kube-proxy, as on `drill kube up --real-node`).
	GatewayService string `yaml:"gateway_service"`
	// APIKeySecret names the Secret key in the namespace that holds the
	// gateway's key (exclusive with api_key_env).
	APIKeySecret *SecretKey `yaml:"api_key_secret" redact:"ref"`
	// HostPathRoots are the host directories beneath which the harness,
	// running on the pods' node, may touch pod volumes' files (disk
	// faults, backup, restore): hostPath volumes and the kubelet's emptyDir
	// directories. Without them no volume is touched.
	HostPathRoots []string `yaml:"host_path_roots"`
	// KubeletRootDir is the kubelet's --root-dir on this host (default
	// /var/lib/kubelet), where emptyDir volumes live.
	KubeletRootDir string `yaml:"kubelet_root_dir"`
	// OnNode says the harness runs on one of the stack's nodes, so it can
	// reach its pods' processes and network namespaces (process, GPU and
	// network faults). Node names it; empty detects it by hostname or
	// InternalIP.
	OnNode bool   `yaml:"on_node"`
	Node   string `yaml:"node"`
	// ModelGenerator says how a model server's pod gets a model version
	// the cluster has nowhere (a canary of `version` alone): an init
	// container of the pod's image runs Command into an emptyDir that
	// replaces the pod volume Volume. Without it such a release is
	// refused (the model is then in the image or its arguments).
	ModelGenerator *KubeModelGenerator `yaml:"model_generator"`
}

// KubeModelGenerator is kubernetes.model_generator: in Command, {dir} is
// where the server's container mounts Volume, {model} the model name and
// {version} the version asked for.
type KubeModelGenerator struct {
	Volume  string   `yaml:"volume"`
	Command []string `yaml:"command"`
}

// KubeRole selects the pods of a role: exactly one of a label selector
// ("app=gateway", set-based expressions allowed) and a Deployment's name
// (its spec.selector, read when the stack lists its pods).
type KubeRole struct {
	Selector   string `yaml:"selector"`
	Deployment string `yaml:"deployment"`
}

// SecretKey names a key of a Secret.
type SecretKey struct {
	Name string `yaml:"name"`
	Key  string `yaml:"key"`
}

// Load reads and validates a stack file. Errors carry file:line:col and
// exit code 2.
func Load(path string) (*File, error) {
	b, err := yamldoc.ReadFile(path, "stack file")
	if err != nil {
		return nil, err
	}
	return Parse(path, b)
}

// Parse decodes and validates a stack file's bytes; name is used in
// error messages.
func Parse(name string, b []byte) (*File, error) {
	d, err := yamldoc.Parse(name, b, "a stack file")
	if err != nil {
		return nil, err
	}
	var f File
	if err := d.Decode(&f); err != nil {
		return nil, err
	}
	f.Path = name
	if errs := f.validate(d); len(errs) > 0 {
		return nil, errs.Sorted()
	}
	return &f, nil
}

// p builds a field path.
func p(seg ...any) yamldoc.Path { return yamldoc.Path(seg) }

func (f *File) validate(d *yamldoc.Doc) yamldoc.Errors {
	var errs yamldoc.Errors
	bad := func(at yamldoc.Path, format string, args ...any) {
		errs = append(errs, d.Errorf(at, false, format, args...))
	}
	switch f.Kind {
	case "":
		f.Kind = KindContainers
	case KindContainers, KindDocker, KindEndpoints, KindKubernetes:
	default:
		bad(p("kind"), "%q: want containers, docker, endpoints or kubernetes", f.Kind)
	}
	if _, ok := stack.LookupServer(f.ModelServer); !ok {
		bad(p("model_server"), "%q: want one of %s", f.ModelServer, strings.Join(stack.ServerNames(), ", "))
	}
	if (f.ModelServer != "" || f.ServedModel != "") && f.Kind == KindKubernetes {
		bad(p("model_server"), "model_server and served_model are for kinds containers, docker and endpoints (kubernetes reads its pods)")
	}
	if f.Replicas < 0 || f.Replicas > 16 {
		bad(p("replicas"), "%d: want 1..16", f.Replicas)
	}
	switch f.Proxy {
	case "", "auto", "always", "never":
	default:
		bad(p("proxy"), "%q: want auto, always or never", f.Proxy)
	}
	if f.DataVolumeSize != 0 && f.DataVolumeSize < 8<<20 {
		bad(p("data_volume_size"), "%s: want at least 8MiB", f.DataVolumeSize)
	}
	for name, s := range f.Services {
		at := p("services", name)
		if err := param.CheckServiceName(name); err != nil {
			errs = append(errs, d.Errorf(at, true, "%v", err))
		}
		if s.Port < 0 || s.Port > 65535 {
			bad(at.Add("port"), "%d: want 1..65535", s.Port)
		}
		switch s.RestartPolicy {
		case "", "no", "always", "unless-stopped", "on-failure":
		default:
			bad(at.Add("restart_policy"), "%q: want no, always, unless-stopped or on-failure", s.RestartPolicy)
		}
		if s.HealthPath != "" && !strings.HasPrefix(s.HealthPath, "/") {
			bad(at.Add("health_path"), "%q: want a path starting with /", s.HealthPath)
		}
	}
	for svc, role := range f.Docker.Roles {
		if err := param.CheckServiceName(svc); err != nil {
			errs = append(errs, d.Errorf(p("docker", "roles", svc), true, "%v", err))
		}
		if !validRole(role) {
			bad(p("docker", "roles", svc), "%q: want gateway, model, proxy or monitor", role)
		}
	}
	switch f.Kind {
	case KindDocker:
		if (f.Docker.Project == "") == (len(f.Docker.Selector) == 0) {
			bad(p("docker"), "kind docker needs exactly one of docker.project and docker.selector")
		}
	case KindEndpoints:
		errs = append(errs, f.validateEndpoints(d)...)
	case KindKubernetes:
		errs = append(errs, f.validateKubernetes(d)...)
	}
	return errs
}

func (f *File) validateEndpoints(d *yamldoc.Doc) yamldoc.Errors {
	var errs yamldoc.Errors
	if len(f.Endpoints) == 0 {
		errs = append(errs, d.Errorf(p("endpoints"), true, "kind endpoints needs at least one entry under endpoints"))
	}
	seen := map[string]bool{}
	for i, e := range f.Endpoints {
		at := p("endpoints", i)
		if e.Name == "" {
			errs = append(errs, d.Errorf(at, false, "name is required"))
		} else if err := param.CheckServiceName(e.Name); err != nil {
			errs = append(errs, d.Errorf(at.Add("name"), false, "%v", err))
		} else if seen[e.Name] {
			errs = append(errs, d.Errorf(at.Add("name"), false, "duplicate name %q", e.Name))
		}
		seen[e.Name] = true
		if !validRole(e.Role) {
			errs = append(errs, d.Errorf(at.Add("role"), false, "%q: want gateway, model, proxy or monitor", e.Role))
		}
		if !strings.HasPrefix(e.URL, "http://") && !strings.HasPrefix(e.URL, "https://") {
			errs = append(errs, d.Errorf(at.Add("url"), false, "%q: want an http(s) URL", e.URL))
		}
	}
	return errs
}

func validRole(r string) bool {
	switch stack.Role(r) {
	case stack.RoleGateway, stack.RoleModel, stack.RoleProxy, stack.RoleMonitor:
		return true
	}
	return false
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
