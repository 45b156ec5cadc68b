package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/aiuptime/aiuptime/exitcode"
	"github.com/aiuptime/aiuptime/kube/local"
)

func init() { addCommand(newKubeCmd) }

func newKubeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "kube",
		Short: "Start, inspect or remove the local Kubernetes cluster (control plane + kwok)",
		Long: `A local Kubernetes cluster for tests and drills: etcd, kube-apiserver,
kube-controller-manager, kube-scheduler and kwok (simulated nodes and pods;
nodes annotated ` + local.FakeNodeAnnotation + `), all on 127.0.0.1.
The binaries come from ` + "`make kube`" + ` (bin/kube/, or $` + local.BinEnv + `).`,
	}
	cmd.AddCommand(newKubeUpCmd(), newKubeDownCmd(), newKubeStatusCmd(), newKubeDeployCmd())
	return cmd
}

// kubeFlags are the flags that choose a cluster's state dir.
type kubeFlags struct {
	name, state string
}

func (f *kubeFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.name, "name", local.DefaultName, "cluster name (its state dir is <state dir>/kube/NAME)")
	cmd.Flags().StringVar(&f.state, "state", "", "state dir of the cluster (default <state dir>/kube/NAME)")
}

func (f *kubeFlags) dir() string {
	if f.state != "" {
		return f.state
	}
	return local.DefaultStateDir(f.name)
}

func newKubeUpCmd() *cobra.Command {
	var (
		f         kubeFlags
		timeout   time.Duration
		chaosMesh bool
		realNode  bool
		images    []string
	)
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start the local cluster, print its admin kubeconfig path, keep it running",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			opts := []local.Option{local.WithName(f.name), local.WithStateDir(f.dir()), local.WithLogger(logger),
				local.WithStartTimeout(timeout)}
			if chaosMesh {
				opts = append(opts, local.WithChaosMeshCRDs())
			}
			if realNode {
				opts = append(opts, local.WithRealNode(), local.WithImages(images...))
			} else if cmd.Flags().Changed("image") {
				return exitcode.Wrap(exitcode.Usage, errors.New("--image needs --real-node"))
			}
			c, err := local.Up(ctx, opts...)
			if err != nil {
				code := exitcode.Harness
				switch {
				case errors.Is(err, local.ErrNoBinaries), errors.Is(err, local.ErrRunning), errors.Is(err, local.ErrNoCRDs),
					errors.Is(err, local.ErrNodeBusy), errors.Is(err, local.ErrNodeUnsupported):
					code = exitcode.Usage
				case ctx.Err() != nil:
					code = exitcode.Aborted
				}
				if c != nil {
					if derr := c.Down(context.WithoutCancel(ctx)); derr != nil {
						err = errors.Join(err, fmt.Errorf("cleanup after failed start: %w", derr))
						code = exitcode.Revert
					}
				}
				return exitcode.Wrap(code, err)
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), c.Kubeconfig)
			return err
		},
	}
	f.add(cmd)
	cmd.Flags().DurationVar(&timeout, "timeout", local.DefaultStartTimeout, "give up when the cluster is not ready by then")
	cmd.Flags().BoolVar(&chaosMesh, "chaos-mesh", false, "install the Chaos Mesh CRDs (from `make kube`) once the cluster is up")
	cmd.Flags().BoolVar(&realNode, "real-node", false,
		"also start a real node (containerd, kubelet, kube-proxy; needs root) and wait until it is Ready")
	cmd.Flags().StringSliceVar(&images, "image", []string{"aiuptime/modelserver:dev", "aiuptime/gateway:dev"},
		"with --real-node: Docker images to import into the node (pods use imagePullPolicy: Never)")
	return cmd
}

func newKubeDownCmd() *cobra.Command {
	var f kubeFlags
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Stop the local cluster's processes and remove its state dir",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir := f.dir()
			if _, err := local.Load(dir); errors.Is(err, fs.ErrNotExist) {
				_, err := fmt.Fprintf(cmd.OutOrStdout(), "no local cluster in %s\n", dir)
				if err == nil {
					err = local.Down(cmd.Context(), dir, local.WithLogger(logger)) // a dir without cluster.json is refused
				}
				if errors.Is(err, local.ErrNotOurs) {
					return exitcode.Wrap(exitcode.Usage, err)
				}
				return err
			}
			if err := local.Down(cmd.Context(), dir, local.WithLogger(logger)); err != nil {
				if errors.Is(err, local.ErrNotOurs) {
					return exitcode.Wrap(exitcode.Usage, err)
				}
				return exitcode.Wrap(exitcode.Revert, err)
			}
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "removed %s\n", dir)
			return err
		},
	}
	f.add(cmd)
	return cmd
}

func newKubeStatusCmd() *cobra.Command {
	var (
		f      kubeFlags
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the local cluster's processes, their health and memory",
		Long:  "Show the local cluster's processes, their health and memory. Exit 0 when every component is healthy, 3 otherwise.",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := local.GetStatus(cmd.Context(), f.dir())
			if errors.Is(err, fs.ErrNotExist) {
				return exitcode.Wrap(exitcode.Harness, fmt.Errorf("no local cluster in %s", f.dir()))
			}
			if err != nil {
				return exitcode.Wrap(exitcode.Harness, err)
			}
			if asJSON {
				if err := printJSON(cmd, st); err != nil {
					return exitcode.Wrap(exitcode.Harness, err)
				}
			} else {
				w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintf(w, "cluster %s (%s), started %s\nkubeconfig %s\n", st.Name, st.Server, st.StartedAt.Format(time.RFC3339), st.Kubeconfig)
				if n := st.Node; n != nil {
					fmt.Fprintf(w, "real node %s at %s, pods on %s (bridge %s); containerd ready %v, kubelet registered %v, node Ready %v\n",
						n.Name, n.IP, n.PodCIDR, n.Bridge, n.ContainerdReady.Round(time.Millisecond),
						n.KubeletRegistered.Round(time.Millisecond), n.NodeReady.Round(time.Millisecond))
				}
				fmt.Fprintln(w)
				fmt.Fprintln(w, "COMPONENT\tPID\tRUNNING\tHEALTHY\tRSS\tPORTS")
				for _, c := range st.Components {
					fmt.Fprintf(w, "%s\t%d\t%t\t%t\t%d MiB\t%v\n", c.Name, c.PID, c.Running, c.Healthy, c.RSS>>20, c.Ports)
				}
				if err := w.Flush(); err != nil {
					return exitcode.Wrap(exitcode.Harness, err)
				}
			}
			if !st.Ready {
				return exitcode.Wrap(exitcode.Harness, errors.New("local cluster is not healthy"))
			}
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON")
	return cmd
}
