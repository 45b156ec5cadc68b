package stackfile

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/aiuptime/aiuptime/hostcaps"
	"github.com/aiuptime/aiuptime/stack"
)

func TestParseKubernetes(t *testing.T) {
	f, err := Parse("k.yaml", []byte(`
kind: kubernetes
model_name: m
kubernetes:
  kubeconfig: /tmp/kubeconfig
  context: admin
  namespace: aiuptime
  roles:
    gateway: {selector: "app=gateway"}
    model: {deployment: model}
  gateway_url: "http://127.0.0.1:30400"
  api_key_secret: {name: litellm, key: master-key}
services:
  model: {port: 8000, health_path: /health}
`))
	if err != nil {
		t.Fatal(err)
	}
	k := f.Kubernetes
	if f.Kind != KindKubernetes || k.Namespace != "aiuptime" || k.Roles["model"].Deployment != "model" || k.APIKeySecret.Key != "master-key" {
		t.Errorf("decoded %+v", f)
	}
	sh := f.Shape(hostcaps.Kernel{})
	if sh.Kind != KindKubernetes || !sh.Has(stack.CapLifecycle) || !sh.Has(stack.CapOwnership) || !sh.Has(stack.CapExec) ||
		!sh.Has(stack.CapCluster) || sh.Has(stack.CapProcesses) || sh.Has(stack.CapVolumes) {
		t.Errorf("shape %+v", sh)
	}
}

func TestParseKubernetesErrors(t *testing.T) {
	head := "kind: kubernetes\nkubernetes:\n"
	for name, tc := range map[string]struct{ src, want string }{
		"no namespace":    {head + "  roles: {model: {selector: a=b}}\n", "k.yaml:2:1: kubernetes: kind kubernetes needs kubernetes.namespace"},
		"bad namespace":   {head + "  namespace: Not_OK\n  roles: {model: {selector: a=b}}\n", "k.yaml:3:14: kubernetes.namespace: \"Not_OK\""},
		"no roles":        {head + "  namespace: ns\n", "kind kubernetes needs kubernetes.roles"},
		"bad role":        {head + "  namespace: ns\n  roles: {gpu: {selector: a=b}}\n", "k.yaml:4:11: kubernetes.roles.gpu: \"gpu\": want gateway"},
		"both selectors":  {head + "  namespace: ns\n  roles:\n    model: {selector: a=b, deployment: d}\n", "k.yaml:5:13: kubernetes.roles.model: want exactly one of selector and deployment"},
		"bad selector":    {head + "  namespace: ns\n  roles:\n    model: {selector: \"a in (\"}\n", "k.yaml:5:23: kubernetes.roles.model.selector"},
		"empty selector":  {head + "  namespace: ns\n  roles:\n    model: {selector: \" \"}\n", "selects every pod"},
		"bad deployment":  {head + "  namespace: ns\n  roles:\n    model: {deployment: Model_1}\n", "kubernetes.roles.model.deployment: \"Model_1\""},
		"bad url":         {head + "  namespace: ns\n  roles: {model: {selector: a=b}}\n  gateway_url: 127.0.0.1:4000\n", "k.yaml:5:16: kubernetes.gateway_url"},
		"bad service":     {head + "  namespace: ns\n  roles: {model: {selector: a=b}}\n  gateway_service: Gate_Way\n", "k.yaml:5:20: kubernetes.gateway_service: \"Gate_Way\""},
		"both keys":       {"kind: kubernetes\napi_key_env: K\nkubernetes:\n  namespace: ns\n  roles: {model: {selector: a=b}}\n  api_key_secret: {name: s, key: k}\n", "api_key_secret and api_key_env are exclusive"},
		"secret no key":   {head + "  namespace: ns\n  roles: {model: {selector: a=b}}\n  api_key_secret: {name: s}\n", "kubernetes.api_key_secret: want a name and a key"},
		"in-cluster both": {head + "  namespace: ns\n  in_cluster: true\n  kubeconfig: /k\n  roles: {model: {selector: a=b}}\n", "in_cluster and kubeconfig are exclusive"},
		"unknown key":     {head + "  namespace: ns\n  namespaces: [a]\n", "k.yaml:4:"},
		"generator without version": {head + "  namespace: ns\n  roles: {model: {selector: a=b}}\n  model_generator: {volume: models, command: [/gen, --dir, \"{dir}\"]}\n",
			"k.yaml:5:21: kubernetes.model_generator: command"},
		"generator bad volume": {head + "  namespace: ns\n  roles: {model: {selector: a=b}}\n  model_generator: {volume: Models, command: [/gen, \"{version}\"]}\n",
			"kubernetes.model_generator: volume \"Models\""},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse("k.yaml", []byte(tc.src))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestShippedKubernetesStack: stacks/kubernetes-local.yaml parses and
// names the namespace the provider's tests and `drill kube up` use.
func TestShippedKubernetesStack(t *testing.T) {
	_, here, _, _ := runtime.Caller(0)
	path := filepath.Join(filepath.Dir(here), "..", "..", "stacks", "kubernetes-local.yaml")
	if _, err := os.Stat(path); err != nil {
		t.Skipf("no %s: %v", path, err)
	}
	f, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	k := f.Kubernetes
	if f.Kind != KindKubernetes || k.Namespace != "aiuptime" || len(k.Roles) != 2 || k.GatewayService != "aiuptime-gateway" ||
		k.APIKeySecret == nil || k.APIKeySecret.Name != "aiuptime-gateway" || k.ModelGenerator == nil || k.ModelGenerator.Volume != "models" {
		t.Errorf("decoded %+v", k)
	}
}
