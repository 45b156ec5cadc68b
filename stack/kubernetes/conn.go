package kubernetes

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	kclient "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Conn says how to reach the cluster; it is journaled with every undo, so
// `drill cleanup` in another process reaches the same cluster.
type Conn struct {
	// Kubeconfig is the kubeconfig file ("" = $KUBECONFIG, else
	// ~/.kube/config, client-go's default loading rules).
	Kubeconfig string `json:"kubeconfig,omitempty"`
	// Context is the kubeconfig context ("" = its current context).
	Context string `json:"context,omitempty"`
	// InCluster uses the pod's service account instead of a kubeconfig.
	InCluster bool `json:"in_cluster,omitempty"`
}

// Client-side rate limits of the provider's client. client-go's defaults
// (5 requests/s, bursts of 10) would make a drill's polling of services
// (a list per role, a get per ownership proof) wait on the client itself.
const (
	ClientQPS   = 50
	ClientBurst = 100
)

// RESTConfig loads the client configuration Conn names.
func (c Conn) RESTConfig() (*rest.Config, error) {
	if c.InCluster {
		cfg, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("in-cluster config: %w", err)
		}
		cfg.QPS, cfg.Burst = ClientQPS, ClientBurst
		return cfg, nil
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if c.Kubeconfig != "" {
		rules = &clientcmd.ClientConfigLoadingRules{ExplicitPath: c.Kubeconfig}
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules,
		&clientcmd.ConfigOverrides{CurrentContext: c.Context}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", orDefault(c.Kubeconfig, "(default: $KUBECONFIG or ~/.kube/config)"), err)
	}
	cfg.QPS, cfg.Burst = ClientQPS, ClientBurst
	return cfg, nil
}

// Pinned returns Conn with the kubeconfig file and context it resolves to
// now made explicit ($KUBECONFIG of one file, else ~/.kube/config; the
// current context), so that an undo replayed later, from a process with
// another environment, reaches the same cluster.
func (c Conn) Pinned() (Conn, error) {
	if c.InCluster {
		return c, nil
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if c.Kubeconfig != "" {
		rules = &clientcmd.ClientConfigLoadingRules{ExplicitPath: c.Kubeconfig}
	} else if prec := rules.GetLoadingPrecedence(); len(prec) == 1 {
		abs, err := filepath.Abs(prec[0])
		if err != nil {
			return c, fmt.Errorf("kubeconfig %q: %w", prec[0], err)
		}
		c.Kubeconfig = abs
	}
	if c.Context == "" {
		raw, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).RawConfig()
		if err != nil {
			return c, fmt.Errorf("kubeconfig %s: %w", orDefault(c.Kubeconfig, "(default)"), err)
		}
		c.Context = raw.CurrentContext
	}
	return c, nil
}

// Client returns a clientset for the cluster Conn names.
func (c Conn) Client() (kclient.Interface, error) {
	cfg, err := c.RESTConfig()
	if err != nil {
		return nil, err
	}
	cs, err := kclient.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return cs, nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Conn is how the stack reaches its cluster, pinned (see Conn.Pinned):
// faults that act through the API server (Chaos Mesh objects) journal it.
func (s *Stack) Conn() Conn { return s.o.conn }

// Gone reports whether the cluster is gone for good as far as a journaled
// undo can tell: its kubeconfig file no longer exists (a local cluster's
// goes with its state dir on `drill kube down`).
func (c Conn) Gone() bool {
	if c.InCluster || c.Kubeconfig == "" {
		return false
	}
	_, err := os.Stat(c.Kubeconfig)
	return errors.Is(err, fs.ErrNotExist)
}
