package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"

	"github.com/aiuptime/aiuptime/exitcode"
	k6kube "github.com/aiuptime/aiuptime/k6run/kube"
)

func init() { addCommand(newK6Cmd) }

func newK6Cmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "k6",
		Short: "Distributed k6 load on Kubernetes: manifests for the k6-operator or a plain indexed Job",
	}
	cmd.AddCommand(newK6ManifestCmd("testrun",
		"Print a ConfigMap with the script and a k6-operator TestRun (k6.io/v1alpha1) for `kubectl apply -f -`"),
		newK6ManifestCmd("job",
			"Print a ConfigMap (script + one execution-segment config per runner) and an indexed Job running bin/k6, for clusters without the operator"))
	return cmd
}

// k6Flags are the flags of `drill k6 testrun|job`.
type k6Flags struct {
	script, name, namespace, image, gateway, model, apiKey, out, pull string
	parallelism                                                       int32
	env, args                                                         []string
}

func (f *k6Flags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.script, "script", "", "k6 script (one self-contained file; at most 1 MiB) (required)")
	fl.Int32Var(&f.parallelism, "parallelism", 1, "number of k6 runners, each running an equal execution segment")
	fl.StringVar(&f.namespace, "namespace", "", "namespace of the objects (required)")
	fl.StringVar(&f.name, "name", "", "name of the load test (default: the script's base name)")
	fl.StringVar(&f.image, "image", k6kube.DefaultImage, "runner image: k6 with the xk6-aiuptime extension (`make k6-image`)")
	fl.StringVar(&f.pull, "image-pull-policy", string(corev1.PullNever), "runner imagePullPolicy (Never: images are built locally)")
	fl.StringVar(&f.gateway, "gateway-url", "", "OpenAI-compatible base URL as the pods reach it (BASE_URL), e.g. http://gateway.ns.svc:4000/v1")
	fl.StringVar(&f.model, "model", "", "model name or gateway alias (MODEL)")
	fl.StringVar(&f.apiKey, "api-key-secret", "", "SECRET/KEY holding the gateway API key, passed as API_KEY through a secretKeyRef")
	fl.StringArrayVar(&f.env, "env", nil, "NAME=VALUE for the script (repeatable; secret-looking names are refused: use --api-key-secret)")
	fl.StringArrayVar(&f.args, "arg", nil, "extra `k6 run` argument (repeatable)")
	fl.StringVarP(&f.out, "output", "o", "", "write the YAML to FILE instead of stdout")
}

// load builds the Load the flags describe; errors are usage errors.
func (f *k6Flags) load() (k6kube.Load, error) {
	l := k6kube.Load{
		Name: f.name, Namespace: f.namespace, Parallelism: f.parallelism, Image: f.image,
		PullPolicy: corev1.PullPolicy(f.pull), GatewayURL: f.gateway, Model: f.model, Args: f.args,
	}
	if f.script == "" {
		return l, fmt.Errorf("--script is required")
	}
	b, err := os.ReadFile(f.script)
	if err != nil {
		return l, fmt.Errorf("read script: %w", err)
	}
	l.Script, l.ScriptName = b, filepath.Base(f.script)
	if l.Name == "" {
		l.Name = strings.ToLower(strings.TrimSuffix(l.ScriptName, filepath.Ext(l.ScriptName)))
	}
	if f.apiKey != "" {
		name, key, ok := strings.Cut(f.apiKey, "/")
		if !ok {
			return l, fmt.Errorf("--api-key-secret %q: want SECRET/KEY", f.apiKey)
		}
		l.APIKey = &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key}
	}
	for _, kv := range f.env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return l, fmt.Errorf("--env %q: want NAME=VALUE", k)
		}
		if l.Env == nil {
			l.Env = map[string]string{}
		}
		l.Env[k] = v
	}
	return l, nil
}

func newK6ManifestCmd(use, short string) *cobra.Command {
	var f k6Flags
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := f.load()
			if err != nil {
				return exitcode.Wrap(exitcode.Usage, err)
			}
			var objs []any
			if use == "job" {
				cm, job, err := k6kube.NewJob(l)
				if err != nil {
					return exitcode.Wrap(exitcode.Usage, err)
				}
				objs = []any{cm, job}
			} else {
				cm, tr, err := k6kube.NewTestRun(l)
				if err != nil {
					return exitcode.Wrap(exitcode.Usage, err)
				}
				objs = []any{cm, tr}
			}
			b, err := k6kube.YAML(objs...)
			if err != nil {
				return exitcode.Wrap(exitcode.Harness, err)
			}
			if f.out == "" {
				_, err = cmd.OutOrStdout().Write(b)
				return err
			}
			if err := os.WriteFile(f.out, b, 0o644); err != nil {
				return exitcode.Wrap(exitcode.Harness, fmt.Errorf("write %s: %w", f.out, err))
			}
			return nil
		},
	}
	f.add(cmd)
	return cmd
}
