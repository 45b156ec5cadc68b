package stackfile

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/aiuptime/aiuptime/internal/yamldoc"
	"github.com/aiuptime/aiuptime/stack"
	"github.com/aiuptime/aiuptime/stack/kubernetes"
)

// validateKubernetes checks the kubernetes block of a kind kubernetes file.
func (f *File) validateKubernetes(d *yamldoc.Doc) yamldoc.Errors {
	var errs yamldoc.Errors
	k := f.Kubernetes
	at := p("kubernetes")
	bad := func(atKey bool, at yamldoc.Path, format string, args ...any) {
		errs = append(errs, d.Errorf(at, atKey, format, args...))
	}
	if k.Namespace == "" {
		bad(true, at, "kind kubernetes needs kubernetes.namespace")
	} else if e := validation.IsDNS1123Label(k.Namespace); len(e) > 0 {
		bad(false, at.Add("namespace"), "%q: %s", k.Namespace, strings.Join(e, "; "))
	}
	if k.InCluster && k.Kubeconfig != "" {
		bad(false, at.Add("in_cluster"), "in_cluster and kubeconfig are exclusive")
	}
	if len(k.Roles) == 0 {
		bad(true, at, "kind kubernetes needs kubernetes.roles (at least a gateway or a model role)")
	}
	for role, r := range k.Roles {
		rat := at.Add("roles", role)
		if !validRole(role) {
			bad(true, rat, "%q: want gateway, model, proxy or monitor", role)
		}
		switch {
		case (r.Selector == "") == (r.Deployment == ""):
			bad(false, rat, "want exactly one of selector and deployment")
		case r.Selector != "":
			if sel, err := labels.Parse(r.Selector); err != nil {
				bad(false, rat.Add("selector"), "%q: %v", r.Selector, err)
			} else if sel.Empty() {
				bad(false, rat.Add("selector"), "%q selects every pod", r.Selector)
			}
		default:
			if e := validation.IsDNS1123Subdomain(r.Deployment); len(e) > 0 {
				bad(false, rat.Add("deployment"), "%q: %s", r.Deployment, strings.Join(e, "; "))
			}
		}
	}
	if u := k.GatewayURL; u != "" && !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
		bad(false, at.Add("gateway_url"), "%q: want an http(s) URL", u)
	}
	if n := k.GatewayService; n != "" {
		if e := validation.IsDNS1035Label(n); len(e) > 0 {
			bad(false, at.Add("gateway_service"), "%q: %s", n, strings.Join(e, "; "))
		}
	}
	if s := k.APIKeySecret; s != nil {
		if s.Name == "" || s.Key == "" {
			bad(false, at.Add("api_key_secret"), "want a name and a key")
		}
		if f.APIKeyEnv != "" {
			bad(false, at.Add("api_key_secret"), "api_key_secret and api_key_env are exclusive")
		}
	}
	for i, r := range k.HostPathRoots {
		if !filepath.IsAbs(r) || filepath.Clean(r) == "/" {
			bad(false, at.Add("host_path_roots", i), "%q: want an absolute directory other than /", r)
		}
	}
	if k.Node != "" && !k.OnNode {
		bad(false, at.Add("node"), "node needs on_node: true")
	}
	if r := k.KubeletRootDir; r != "" && !filepath.IsAbs(r) {
		bad(false, at.Add("kubelet_root_dir"), "%q: want an absolute path", r)
	}
	if g := k.ModelGenerator; g != nil {
		if e := validation.IsDNS1123Label(g.Volume); len(e) > 0 {
			bad(false, at.Add("model_generator"), "volume %q: %s", g.Volume, strings.Join(e, "; "))
		}
		if len(g.Command) == 0 || !strings.Contains(strings.Join(g.Command, " "), "{version}") {
			bad(false, at.Add("model_generator"), "command %q: want an argv that uses {version}", g.Command)
		}
	}
	return errs
}

// openKubernetes attaches to the pods the kubernetes block selects.
func (f *File) openKubernetes(ctx context.Context, o openOptions) (stack.Stack, error) {
	k := f.Kubernetes
	kopts := []kubernetes.Option{kubernetes.WithLogger(o.logger), kubernetes.WithModelName(f.ModelName),
		kubernetes.WithKubeconfig(k.Kubeconfig), kubernetes.WithContext(k.Context), kubernetes.WithNamespace(k.Namespace)}
	if k.InCluster {
		kopts = append(kopts, kubernetes.WithInCluster())
	}
	for role, r := range k.Roles {
		kopts = append(kopts, kubernetes.WithRole(stack.Role(role), kubernetes.RoleSelector{Selector: r.Selector, Deployment: r.Deployment}))
	}
	if k.GatewayURL != "" {
		kopts = append(kopts, kubernetes.WithGatewayURL(k.GatewayURL))
	}
	if k.GatewayService != "" {
		kopts = append(kopts, kubernetes.WithGatewayService(k.GatewayService))
	}
	if s := k.APIKeySecret; s != nil {
		kopts = append(kopts, kubernetes.WithAPIKeySecret(s.Name, s.Key))
	} else {
		key, err := f.apiKey()
		if err != nil {
			return nil, err
		}
		kopts = append(kopts, kubernetes.WithAPIKey(key))
	}
	if len(k.HostPathRoots) > 0 {
		kopts = append(kopts, kubernetes.WithHostPathRoots(k.HostPathRoots...), kubernetes.WithKubeletRootDir(k.KubeletRootDir))
	}
	for name, s := range f.Services {
		if s.Port != 0 {
			kopts = append(kopts, kubernetes.WithPort(name, s.Port))
		}
		if s.HealthPath != "" {
			kopts = append(kopts, kubernetes.WithHealthPath(name, s.HealthPath))
		}
	}
	if k.OnNode {
		kopts = append(kopts, kubernetes.WithOnNode(k.Node))
	}
	if g := k.ModelGenerator; g != nil {
		kopts = append(kopts, kubernetes.WithModelGenerator(kubernetes.ModelGenerator{Volume: g.Volume, Command: g.Command}))
	}
	st, err := kubernetes.Attach(ctx, kopts...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Path, err)
	}
	return st, nil
}
