package kube

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	kclient "k8s.io/client-go/kubernetes"

	"github.com/aiuptime/aiuptime/k6run"
	"github.com/aiuptime/aiuptime/redact"
)

// Defaults of RunJob.
const (
	// DefaultPollInterval is how often the Job's status is read.
	DefaultPollInterval = 500 * time.Millisecond
	// DefaultCleanupTimeout bounds the deletion of the Job and ConfigMap.
	DefaultCleanupTimeout = 30 * time.Second
)

// The namespace opt-in label, as stack/kubernetes defines it
// (LabelDrill=LabelDrillEnabled); repeated here so that generating and
// running load does not depend on the stack provider.
const (
	LabelDrill        = "aiuptime.io/drill"
	LabelDrillEnabled = "enabled"
)

// ErrNotOptedIn means the namespace lacks the drill opt-in label.
var ErrNotOptedIn = errors.New("namespace does not opt in to drills")

// RunOption configures RunJob.
type RunOption func(*runOptions) error

type runOptions struct {
	log  *slog.Logger
	poll time.Duration
	keep bool
	red  *redact.Redactor
}

// WithLogger sets the logger (default: discard). Only names, counts and
// exit codes are logged, never the pods' logs.
func WithLogger(l *slog.Logger) RunOption {
	return func(o *runOptions) error {
		if l == nil {
			return errors.New("nil logger")
		}
		o.log = l
		return nil
	}
}

// WithPollInterval sets how often the Job is polled.
func WithPollInterval(d time.Duration) RunOption {
	return func(o *runOptions) error {
		if d <= 0 {
			return fmt.Errorf("poll interval %v: want > 0", d)
		}
		o.poll = d
		return nil
	}
}

// WithRedactor masks the runners' summaries with r (metric names of
// sub-metrics may hold a URL with a password; threshold sources too), as
// k6run.Run does. Default: a redactor of its own.
func WithRedactor(r *redact.Redactor) RunOption {
	return func(o *runOptions) error {
		if r == nil {
			return errors.New("nil redactor")
		}
		o.red = r
		return nil
	}
}

// WithKeep leaves the Job, its pods and the ConfigMap in place afterwards.
func WithKeep() RunOption { return func(o *runOptions) error { o.keep = true; return nil } }

// RunJob runs l as an indexed Job (NewJob) in its namespace, which must
// carry the drill opt-in label, waits until the Job completed or failed,
// reads every runner's summary from its pod log and merges them. The Job
// (with its pods) and the ConfigMap are deleted afterwards, also when ctx
// ends (under a context of their own), unless WithKeep. A runner without
// a summary is an error naming its pod; the merged summary of the others
// is not returned then, since it would undercount.
func RunJob(ctx context.Context, cli kclient.Interface, l Load, opts ...RunOption) (_ *Merged, err error) {
	o := runOptions{log: slog.New(slog.DiscardHandler), poll: DefaultPollInterval, red: redact.New()}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("k6 job option: %w", err)
		}
	}
	cm, job, err := NewJob(l)
	if err != nil {
		return nil, err
	}
	if err := checkOptIn(ctx, cli, job.Namespace); err != nil {
		return nil, err
	}
	if _, err := cli.CoreV1().ConfigMaps(cm.Namespace).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("create configmap %s/%s: %w", cm.Namespace, cm.Name, err)
	}
	if !o.keep {
		defer func() { err = errors.Join(err, cleanup(ctx, cli, cm, job)) }()
	}
	if _, err := cli.BatchV1().Jobs(job.Namespace).Create(ctx, job, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("create job %s/%s: %w", job.Namespace, job.Name, err)
	}
	o.log.Info("k6 job created", "namespace", job.Namespace, "job", job.Name, "parallelism", l.Parallelism)
	started := time.Now()
	if err := waitJob(ctx, cli, job, o.poll); err != nil {
		return nil, err
	}
	parts, err := readParts(ctx, cli, job, int(l.Parallelism), o.red)
	if err != nil {
		return nil, err
	}
	for _, p := range parts {
		mask(p.Summary, o.red)
	}
	o.log.Info("k6 job finished", "job", job.Name, "runners", len(parts), "elapsed", time.Since(started))
	return Merge(parts)
}

// checkOptIn refuses a namespace without the drill opt-in label.
func checkOptIn(ctx context.Context, cli kclient.Interface, namespace string) error {
	ns, err := cli.CoreV1().Namespaces().Get(ctx, namespace, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("namespace %s: %w", namespace, err)
	}
	if ns.Labels[LabelDrill] != LabelDrillEnabled {
		return fmt.Errorf("namespace %s lacks the label %s=%s: %w", namespace,
			LabelDrill, LabelDrillEnabled, ErrNotOptedIn)
	}
	return nil
}

// cleanup deletes the Job (its pods with it) and the ConfigMap; gone is
// fine.
func cleanup(ctx context.Context, cli kclient.Interface, cm *corev1.ConfigMap, job *batchv1.Job) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), DefaultCleanupTimeout)
	defer cancel()
	bg := metav1.DeletePropagationBackground
	var errs []error
	if err := cli.BatchV1().Jobs(job.Namespace).Delete(ctx, job.Name, metav1.DeleteOptions{PropagationPolicy: &bg}); err != nil && !apierrors.IsNotFound(err) {
		errs = append(errs, fmt.Errorf("delete job %s/%s: %w", job.Namespace, job.Name, err))
	}
	if err := cli.CoreV1().ConfigMaps(cm.Namespace).Delete(ctx, cm.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		errs = append(errs, fmt.Errorf("delete configmap %s/%s: %w", cm.Namespace, cm.Name, err))
	}
	return errors.Join(errs...)
}

// waitJob polls the Job until its Complete or Failed condition is true (a
// failed Job still has summaries: thresholds failing is exit 99).
func waitJob(ctx context.Context, cli kclient.Interface, job *batchv1.Job, every time.Duration) error {
	err := wait.PollUntilContextCancel(ctx, every, true, func(ctx context.Context) (bool, error) {
		j, err := cli.BatchV1().Jobs(job.Namespace).Get(ctx, job.Name, metav1.GetOptions{})
		if err != nil {
			return false, fmt.Errorf("get job: %w", err)
		}
		for _, c := range j.Status.Conditions {
			if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, stuckPod(ctx, cli, job)
	})
	if err != nil {
		return fmt.Errorf("wait for k6 job %s/%s: %w", job.Namespace, job.Name, err)
	}
	return nil
}

// stuckReasons are container waiting reasons that never resolve by
// themselves: the image is not on the node (no registry here), or the
// pod's config refers to something missing (a Secret key).
var stuckReasons = map[string]bool{
	"ErrImageNeverPull": true, "ImagePullBackOff": true, "ErrImagePull": true,
	"InvalidImageName": true, "CreateContainerConfigError": true,
}

// stuckPod returns an error naming a runner pod that cannot start.
func stuckPod(ctx context.Context, cli kclient.Interface, job *batchv1.Job) error {
	pods, err := cli.CoreV1().Pods(job.Namespace).List(ctx, metav1.ListOptions{LabelSelector: labels.Set{LabelJobName: job.Name}.String()})
	if err != nil {
		return fmt.Errorf("list pods of job %s: %w", job.Name, err)
	}
	for _, p := range pods.Items {
		for _, cs := range p.Status.ContainerStatuses {
			if w := cs.State.Waiting; w != nil && stuckReasons[w.Reason] {
				return fmt.Errorf("k6 runner pod %s cannot start: %s: %s", p.Name, w.Reason, w.Message)
			}
		}
	}
	return nil
}

// readParts reads the summary of every index's last finished pod.
func readParts(ctx context.Context, cli kclient.Interface, job *batchv1.Job, n int, red *redact.Redactor) ([]Part, error) {
	sel := labels.Set{LabelJobName: job.Name}.String()
	pods, err := cli.CoreV1().Pods(job.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, fmt.Errorf("list pods of job %s: %w", job.Name, err)
	}
	items := pods.Items
	sort.Slice(items, func(i, j int) bool { return items[i].CreationTimestamp.Before(&items[j].CreationTimestamp) })
	last := map[int]corev1.Pod{}
	for _, p := range items {
		i, err := strconv.Atoi(p.Annotations[AnnotationCompletionIndex])
		if err != nil || i < 0 || i >= n {
			continue
		}
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			last[i] = p
		}
	}
	var parts []Part
	for i := range n {
		p, ok := last[i]
		if !ok {
			return nil, fmt.Errorf("k6 job %s: no finished pod for index %d", job.Name, i)
		}
		part, err := readPart(ctx, cli, p, i, red)
		if err != nil {
			return nil, err
		}
		parts = append(parts, part)
	}
	return parts, nil
}

// readPart reads one runner pod's exit code and summary.
func readPart(ctx context.Context, cli kclient.Interface, p corev1.Pod, index int, red *redact.Redactor) (Part, error) {
	part := Part{Index: index, Pod: p.Name, ExitCode: -1}
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Name == ContainerName && cs.State.Terminated != nil {
			part.ExitCode = int(cs.State.Terminated.ExitCode)
		}
	}
	b, err := cli.CoreV1().Pods(p.Namespace).GetLogs(p.Name, &corev1.PodLogOptions{Container: ContainerName}).DoRaw(ctx)
	if err != nil {
		return part, fmt.Errorf("log of k6 runner %d (pod %s): %w", index, p.Name, err)
	}
	s, err := ParseLog(b)
	if err != nil {
		return part, fmt.Errorf("k6 runner %d (pod %s, exit code %d): %w; log tail (masked): %s",
			index, p.Name, part.ExitCode, err, red.String(tail(string(b), 5)))
	}
	s.ExitCode = part.ExitCode
	part.Summary = s
	return part, nil
}

// mask masks the metric names and threshold sources of s with red.
func mask(s *k6run.Summary, red *redact.Redactor) {
	metrics := make(map[string]k6run.Metric, len(s.Metrics))
	for name, m := range s.Metrics {
		if len(m.Thresholds) > 0 {
			th := make(map[string]bool, len(m.Thresholds))
			for src, ok := range m.Thresholds {
				th[red.String(src)] = ok
			}
			m.Thresholds = th
		}
		metrics[red.String(name)] = m
	}
	s.Metrics = metrics
}

// tail returns the last n non-empty lines of s, joined by " | ".
func tail(s string, n int) string {
	var lines []string
	for l := range strings.SplitSeq(strings.TrimSpace(s), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines[max(0, len(lines)-n):], " | ")
}
