// Package kube backs up and restores the Kubernetes side of a stack: the
// ConfigMaps and Secrets a label selector picks in one namespace, and the
// contents of PersistentVolumeClaims, through a short-lived helper pod.
//
// A backup is a backup.Snapshot directory: one YAML file per object under
// configmaps/ and secrets/, one tar per claim under pvc-<claim>/, and
// manifest.json with every file's size and sha256 (backup.Verify checks
// them before a restore touches anything).
//
// Secrets' data is stored (it is a backup: directories 0700, files 0600),
// but what this package logs, returns in reports and writes in the
// manifest names only objects and keys, never values.
//
// Ownership: the namespace must carry the drill opt-in label
// (aiuptime.io/drill=enabled) and only objects matching the selector are
// read or written; a restore refuses a backed-up object whose labels no
// longer match it. A helper pod is journaled (chaos.Journal) before it is
// created, so `drill cleanup` deletes one a crash left behind.
package kube

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	kclient "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/stack/kubernetes"
)

// Source names (directories of the snapshot) and kinds.
const (
	SourceConfigMaps = "configmaps"
	SourceSecrets    = "secrets"
	// PVCSourcePrefix + claim name is a claim's source.
	PVCSourcePrefix = "pvc-"

	KindConfigMaps = "kubernetes-configmaps"
	KindSecrets    = "kubernetes-secrets"
	KindPVC        = "kubernetes-pvc"
)

// DefaultHelperImage is the image of the helper pod: FROM scratch with
// aiuptime-pvctar (backup/kube/cmd/aiuptime-pvctar) at /aiuptime-pvctar,
// built locally (no registry).
const DefaultHelperImage = "aiuptime/pvctar:dev"

// ErrNotOwned means an object does not match the stack's selector, or
// the namespace does not opt in.
var ErrNotOwned = errors.New("not owned by the stack")

// Option configures New.
type Option func(*options) error

type options struct {
	selector labels.Selector
	log      *slog.Logger
	journal  *chaos.Journal
	image    string
	run      string
}

// WithSelector picks the stack's ConfigMaps and Secrets (a label selector
// such as "app.kubernetes.io/part-of=aiuptime"); required and not empty:
// a namespace's every object is never taken.
func WithSelector(sel string) Option {
	return func(o *options) error {
		s, err := labels.Parse(sel)
		if err != nil {
			return fmt.Errorf("selector %q: %w", sel, err)
		}
		if s.Empty() {
			return fmt.Errorf("selector %q: empty (it would select every object)", sel)
		}
		o.selector = s
		return nil
	}
}

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return errors.New("nil logger")
		}
		o.log = l
		return nil
	}
}

// WithJournal journals every helper pod before it is created (default:
// nil, nothing journaled; a drill passes its journal).
func WithJournal(j *chaos.Journal) Option {
	return func(o *options) error { o.journal = j; return nil }
}

// WithHelperImage sets the helper pod's image (DefaultHelperImage).
func WithHelperImage(image string) Option {
	return func(o *options) error {
		if strings.TrimSpace(image) == "" {
			return errors.New("empty helper image")
		}
		o.image = image
		return nil
	}
}

// WithRun sets the run id journal records carry.
func WithRun(id string) Option { return func(o *options) error { o.run = id; return nil } }

// Kube backs up and restores one namespace's share of a stack.
type Kube struct {
	o    options
	conn kubernetes.Conn
	cfg  *rest.Config
	cli  kclient.Interface
	ns   string
}

// New connects through conn to namespace, which must opt in, and returns
// a Kube acting only on what the selector picks.
func New(ctx context.Context, conn kubernetes.Conn, namespace string, opts ...Option) (*Kube, error) {
	o := options{log: slog.New(slog.DiscardHandler), image: DefaultHelperImage}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("kubernetes backup: %w", err)
		}
	}
	if o.selector == nil {
		return nil, errors.New("kubernetes backup: no selector (WithSelector)")
	}
	pinned, err := conn.Pinned()
	if err != nil {
		return nil, fmt.Errorf("kubernetes backup: %w", err)
	}
	cfg, err := pinned.RESTConfig()
	if err != nil {
		return nil, fmt.Errorf("kubernetes backup: %w", err)
	}
	cli, err := kclient.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes backup: client: %w", err)
	}
	k := &Kube{o: o, conn: pinned, cfg: cfg, cli: cli, ns: namespace}
	if err := k.checkOptIn(ctx); err != nil {
		return nil, err
	}
	return k, nil
}

// checkOptIn re-reads the namespace: it must carry the opt-in label.
func (k *Kube) checkOptIn(ctx context.Context) error {
	ns, err := k.cli.CoreV1().Namespaces().Get(ctx, k.ns, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("namespace %s: %w", k.ns, err)
	}
	if ns.Labels[kubernetes.LabelDrill] != kubernetes.LabelDrillEnabled {
		return fmt.Errorf("namespace %s lacks the label %s=%s: %w: %w", k.ns,
			kubernetes.LabelDrill, kubernetes.LabelDrillEnabled, ErrNotOwned, kubernetes.ErrNotOptedIn)
	}
	return nil
}

// owns returns nil when an object's labels match the selector.
func (k *Kube) owns(kind, name string, l map[string]string) error {
	if !k.o.selector.Matches(labels.Set(l)) {
		return fmt.Errorf("%s %s/%s: labels %s do not match %s: %w", kind, k.ns, name, labels.Set(l), k.o.selector, ErrNotOwned)
	}
	return nil
}

// origin names what a snapshot was taken from.
func (k *Kube) origin() string {
	return fmt.Sprintf("kubernetes %s namespace %s selector %s", k.cfg.Host, k.ns, k.o.selector)
}

// listConfigMaps lists the selected ConfigMaps, by name.
func (k *Kube) listConfigMaps(ctx context.Context) ([]corev1.ConfigMap, error) {
	l, err := k.cli.CoreV1().ConfigMaps(k.ns).List(ctx, metav1.ListOptions{LabelSelector: k.o.selector.String()})
	if err != nil {
		return nil, fmt.Errorf("list configmaps in %s: %w", k.ns, err)
	}
	items := l.Items
	slices.SortFunc(items, func(a, b corev1.ConfigMap) int { return strings.Compare(a.Name, b.Name) })
	return items, nil
}

// listSecrets lists the selected Secrets, by name.
func (k *Kube) listSecrets(ctx context.Context) ([]corev1.Secret, error) {
	l, err := k.cli.CoreV1().Secrets(k.ns).List(ctx, metav1.ListOptions{LabelSelector: k.o.selector.String()})
	if err != nil {
		return nil, fmt.Errorf("list secrets in %s: %w", k.ns, err)
	}
	items := l.Items
	slices.SortFunc(items, func(a, b corev1.Secret) int { return strings.Compare(a.Name, b.Name) })
	return items, nil
}
