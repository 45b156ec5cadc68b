package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	kclient "k8s.io/client-go/kubernetes"

	"github.com/aiuptime/aiuptime/exitcode"
	"github.com/aiuptime/aiuptime/kube/deploy"
	"github.com/aiuptime/aiuptime/kube/local"
	"github.com/aiuptime/aiuptime/stack/kubernetes"
)

// defaultDeployTimeout bounds the wait for the Deployments; a real node
// loading the images' model from a ConfigMap needs seconds.
const defaultDeployTimeout = 3 * time.Minute

func newKubeDeployCmd() *cobra.Command {
	var (
		f          kubeFlags
		kubeconfig string
		namespace  string
		images     map[string]string
		modelName  string
		nodeSel    map[string]string
		timeout    time.Duration
		remove     bool
		asJSON     bool
		modelDir   string
	)
	cmd := &cobra.Command{
		Use:   "deploy",
		Short: "Deploy the project's stack (gateway + two model servers) onto a cluster",
		Long: `Create or update, in a namespace that opts in to drills, the gateway and two
model servers as Deployments behind ClusterIP Services (kube/deploy), and wait
until every Deployment is available. stacks/kubernetes-local.yaml drills it.
Without --kubeconfig, the local cluster of ` + "`drill kube up`" + ` (--name/--state) is used.
The gateway's master key is kept in the Secret ` + deploy.GatewayName + ` (key ` + deploy.SecretKey + `)
and never printed. --remove deletes what deploy made (objects labelled
` + deploy.LabelManagedBy + `=` + deploy.ManagedBy + `) and waits until its pods are gone.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			cli, err := deployClient(kubeconfig, f.dir())
			if err != nil {
				return exitcode.Wrap(exitcode.Usage, err)
			}
			onHost := kubeconfig == "" && realNodeHere(f.dir())
			if modelDir == "" && onHost {
				// Its model files go beneath its state dir, where the
				// shipped stack file lets disk faults and restores act.
				modelDir = filepath.Join(f.dir(), "volumes")
			}
			if remove {
				if err := deploy.Remove(ctx, cli, namespace); err != nil {
					return exitcode.Wrap(exitcode.Revert, err)
				}
				_, err := fmt.Fprintf(cmd.OutOrStdout(), "removed the stack from namespace %s\n", namespace)
				return err
			}
			for k := range images {
				if k != "model" && k != "gateway" {
					return exitcode.Wrap(exitcode.Usage, fmt.Errorf("--images %s: want model=IMAGE and/or gateway=IMAGE", k))
				}
			}
			res, err := deploy.Deploy(ctx, cli, deploy.WithNamespace(namespace), deploy.WithImages(images["model"], images["gateway"]),
				deploy.WithModelName(modelName), deploy.WithNodeSelector(nodeSel), deploy.WithWait(timeout), deploy.WithLogger(logger),
				deploy.WithModelHostDir(modelDir))
			if err != nil {
				return deployFailed(ctx, err)
			}
			if onHost {
				// Until kube-proxy routes the gateway's ClusterIP, a
				// drill's first probe would leave the host by the
				// default route.
				if err := waitGatewayRouted(ctx, res.GatewayURL, timeout); err != nil {
					return exitcode.Wrap(exitcode.Harness, err)
				}
			}
			if asJSON {
				return printJSON(cmd, res)
			}
			return printDeploy(cmd, res)
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig of the cluster (default: the local cluster's)")
	cmd.Flags().StringVar(&namespace, "namespace", deploy.DefaultNamespace, "namespace (created and labelled "+kubernetes.LabelDrill+"="+kubernetes.LabelDrillEnabled+")")
	cmd.Flags().StringToStringVar(&images, "images", nil, "images: model=IMAGE,gateway=IMAGE (default "+deploy.DefaultModelImage+", "+deploy.DefaultGatewayImage+")")
	cmd.Flags().StringVar(&modelName, "model-name", deploy.DefaultModelName, "served model name")
	cmd.Flags().StringToStringVar(&nodeSel, "node-selector", nil, "put the pods on nodes with these labels (e.g. type=kwok)")
	cmd.Flags().DurationVar(&timeout, "timeout", defaultDeployTimeout, "give up when the Deployments are not available by then")
	cmd.Flags().BoolVar(&remove, "remove", false, "remove what deploy made instead")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	cmd.Flags().StringVar(&modelDir, "model-host-dir", "", "write the model files here on this host and mount them by hostPath (default on the local cluster's real node: <state dir>/volumes)")
	return cmd
}

// deployClient connects with kubeconfig, else with the local cluster's.
func deployClient(kubeconfig, stateDir string) (kclient.Interface, error) {
	if kubeconfig == "" {
		st, err := local.Load(stateDir)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no local cluster in %s: start one with `drill kube up`, or give --kubeconfig", stateDir)
		}
		if err != nil {
			return nil, err
		}
		kubeconfig = st.Kubeconfig
	}
	return kubernetes.Conn{Kubeconfig: kubeconfig}.Client()
}

func printDeploy(cmd *cobra.Command, res *deploy.Result) error {
	w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "namespace %s: gateway %s, models %s\n", res.Namespace, res.GatewayURL, strings.Join(res.ModelURLs, " "))
	fmt.Fprintf(w, "model digest %s; objects applied in %v, all available after %v\n\n", res.ModelDigest,
		res.Applied.Round(time.Millisecond), res.Duration.Round(time.Millisecond))
	fmt.Fprintln(w, "KIND\tNAME\tACTION")
	for _, o := range res.Objects {
		fmt.Fprintf(w, "%s\t%s\t%s\n", o.Kind, o.Name, o.Action)
	}
	fmt.Fprintln(w, "\nDEPLOYMENT\tAVAILABLE AFTER")
	for _, r := range res.Ready {
		fmt.Fprintf(w, "%s\t%v\n", r.Name, r.After.Round(time.Millisecond))
	}
	return w.Flush()
}

// deployFailed classifies a failed deploy: the namespace holds objects
// that are not ours (usage), Ctrl-C (aborted), or anything else (harness).
func deployFailed(ctx context.Context, err error) error {
	code := exitcode.Harness
	switch {
	case errors.Is(err, deploy.ErrNotOurs):
		code = exitcode.Usage
	case ctx.Err() != nil:
		code = exitcode.Aborted
	}
	return exitcode.Wrap(code, err)
}

// realNodeHere reports whether the local cluster of stateDir has its real
// node on this host.
func realNodeHere(stateDir string) bool {
	st, err := local.Load(stateDir)
	return err == nil && st.Node != nil
}

// waitGatewayRouted waits until the real node's kube-proxy routes the
// gateway Service at rawURL (a ClusterIP URL).
func waitGatewayRouted(ctx context.Context, rawURL string, timeout time.Duration) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("gateway URL %q: %w", rawURL, err)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		return fmt.Errorf("gateway URL %q: port: %w", rawURL, err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := local.WaitServiceRouted(ctx, u.Hostname(), port); err != nil {
		return fmt.Errorf("gateway Service: %w", err)
	}
	return nil
}
