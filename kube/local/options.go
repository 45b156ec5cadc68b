package local

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"
)

// Option configures Up, Down and Status.
type Option func(*options) error

type options struct {
	name         string
	stateDir     string
	binDir       string
	log          *slog.Logger
	startTimeout time.Duration
	stopGrace    time.Duration
	chaosMesh    bool
	realNode     bool
	images       []string
}

// WithName names the cluster; its state dir is then
// <state dir>/kube/<name> (see internal/statedir).
func WithName(name string) Option {
	return func(o *options) error {
		if name == "" || name != filepath.Base(name) || name == "." || name == ".." {
			return fmt.Errorf("cluster name %q: want one path element", name)
		}
		o.name = name
		return nil
	}
}

// WithStateDir puts the cluster's state in dir instead of the default.
func WithStateDir(dir string) Option {
	return func(o *options) error {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return fmt.Errorf("state dir %q: %w", dir, err)
		}
		o.stateDir = abs
		return nil
	}
}

// WithBinDir takes the binaries from dir.
func WithBinDir(dir string) Option {
	return func(o *options) error {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return fmt.Errorf("bin dir %q: %w", dir, err)
		}
		o.binDir = abs
		return nil
	}
}

// WithLogger logs progress to l (default: nothing).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return errors.New("nil logger")
		}
		o.log = l
		return nil
	}
}

// WithStartTimeout bounds Up (default DefaultStartTimeout).
func WithStartTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("start timeout %v: want > 0", d)
		}
		o.startTimeout = d
		return nil
	}
}

// WithStopGrace sets how long Down waits after SIGTERM (default
// DefaultStopGrace).
func WithStopGrace(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return fmt.Errorf("stop grace %v: want >= 0", d)
		}
		o.stopGrace = d
		return nil
	}
}

// WithChaosMeshCRDs makes Up install the Chaos Mesh CRDs (InstallCRDs from
// ChaosMeshCRDsDir next to the binaries) and wait until they are
// established before it returns. Down and Status ignore it.
func WithChaosMeshCRDs() Option {
	return func(o *options) error {
		o.chaosMesh = true
		return nil
	}
}

// WithRealNode makes Up start a real node once the control plane is
// ready: Debian's containerd (private config, socket and root under the
// state dir), the kubelet and kube-proxy (iptables mode), on a CNI bridge
// of the cluster's own; Up returns when the Node is Ready. It needs root,
// cgroups, containerd, runc and containernetworking-plugins, and refuses
// to start while another real node runs on the host (ErrNodeBusy). Down
// removes everything the node added to the host. Down and Status ignore it.
func WithRealNode() Option {
	return func(o *options) error {
		o.realNode = true
		return nil
	}
}

// WithImages imports the Docker images refs (`docker save`) into the real
// node's containerd, for pods with imagePullPolicy Never (there is no
// registry). It implies nothing without WithRealNode.
func WithImages(refs ...string) Option {
	return func(o *options) error {
		for _, r := range refs {
			if r == "" || strings.HasPrefix(r, "-") {
				return fmt.Errorf("image %q: want an image reference", r)
			}
		}
		o.images = append(o.images, refs...)
		return nil
	}
}

func newOptions(opts []Option) (*options, error) {
	o := &options{name: DefaultName, log: slog.New(slog.DiscardHandler), startTimeout: DefaultStartTimeout, stopGrace: DefaultStopGrace}
	for _, opt := range opts {
		if err := opt(o); err != nil {
			return nil, err
		}
	}
	if o.stateDir == "" {
		o.stateDir = DefaultStateDir(o.name)
	}
	return o, nil
}
