package kube

import (
	"encoding/json"
	"fmt"
	"math/big"
	"path"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aiuptime/aiuptime/k6run"
)

// Paths and names inside a runner pod of the Job.
const (
	// MountDir is where the ConfigMap (script and segment configs) is
	// mounted.
	MountDir = "/k6"
	// ContainerName is the k6 container's name.
	ContainerName = "k6"
	// EnvIndex holds the pod's completion index (from the annotation the
	// Job controller sets), expanded in k6's --config argument.
	EnvIndex = "AIUPTIME_K6_INDEX"
	// AnnotationCompletionIndex is the Job controller's index annotation.
	AnnotationCompletionIndex = "batch.kubernetes.io/job-completion-index"
	// LabelJobName is the label the Job controller puts on its pods.
	LabelJobName = "batch.kubernetes.io/job-name"
)

// JobTrendStats are the trend statistics the runners export: k6run's plus
// "count", which makes averages mergeable exactly.
var JobTrendStats = append(append([]string(nil), k6run.TrendStats...), "count")

// Segment is the execution segment of runner index of n, as k6 takes it
// in --execution-segment: "i/n:(i+1)/n", fractions reduced ("0:1/2").
func Segment(index, n int) string {
	return rat(index, n) + ":" + rat(index+1, n)
}

// SegmentSequence is the execution segment sequence of n equal segments,
// "0,1/n,2/n,...,1" (reduced), as k6 takes it in
// --execution-segment-sequence: every runner must get the same one so the
// segments partition the VUs and iterations without overlap.
func SegmentSequence(n int) string {
	parts := make([]string, n+1)
	for i := range parts {
		parts[i] = rat(i, n)
	}
	return strings.Join(parts, ",")
}

// rat is a/b reduced ("0", "1", "1/3").
func rat(a, b int) string { return big.NewRat(int64(a), int64(b)).RatString() }

// segmentConfigName is the ConfigMap key of index's k6 config file.
func segmentConfigName(index int) string { return fmt.Sprintf("segment-%d.json", index) }

// SegmentConfig is the k6 config file (k6 run --config) of runner index of
// n: its execution segment and the common sequence.
func SegmentConfig(index, n int) ([]byte, error) {
	b, err := json.Marshal(map[string]string{
		"executionSegment":         Segment(index, n),
		"executionSegmentSequence": SegmentSequence(n),
	})
	if err != nil {
		return nil, fmt.Errorf("encode segment config: %w", err)
	}
	return b, nil
}

// JobArgs are the `k6` arguments of a runner: RunnerArgs with its
// segment's config file chosen by the index variable (which the kubelet
// expands) and the script in MountDir.
func JobArgs(l Load) []string {
	l = l.withDefaults()
	return RunnerArgs(path.Join(MountDir, "segment-$("+EnvIndex+").json"), path.Join(MountDir, l.ScriptName), l.Args...)
}

// RunnerArgs are the `k6` arguments of one runner: run quietly with the
// k6 config file config (its execution segment; "" for none), export the
// summary, with "count" among the trend stats, on stdout, then extra and
// the script.
//
// k6's own log lines are turned off (--log-output=none): k6 writes the
// exported summary in several writes while it may still log (the
// "thresholds crossed" error), and a log line landed in the middle of
// the JSON, on stdout and, through the pod log's merge of stdout and
// stderr, on stderr alike. The runner's exit code still tells a failure
// (99 thresholds, 107 script exception); extra "--log-output=stderr"
// brings the lines back for debugging, at that risk.
func RunnerArgs(config, script string, extra ...string) []string {
	args := []string{"run", "--quiet", "--no-color", "--log-output=none"}
	if config != "" {
		args = append(args, "--config", config)
	}
	args = append(args, "--summary-export", "/dev/stdout", "--summary-trend-stats", strings.Join(JobTrendStats, ","))
	args = append(args, extra...)
	return append(args, script)
}

// JobName is the name of a load's Job.
func JobName(load string) string { return load + "-k6" }

// NewJob returns the ConfigMap (the script and one k6 config file per
// segment) and the indexed Job that runs bin/k6 on Parallelism pods
// without the k6-operator: completionMode Indexed, parallelism =
// completions = N, one try per index (backoffLimitPerIndex 0, so a runner
// whose thresholds failed, exit 99, does not stop the others and is not
// run twice). Pod i runs segment i/N:(i+1)/N and prints its summary JSON
// on stdout. The image must exist on the nodes (imagePullPolicy Never by
// default).
func NewJob(l Load) (*corev1.ConfigMap, *batchv1.Job, error) {
	if err := l.Validate(); err != nil {
		return nil, nil, err
	}
	l = l.withDefaults()
	n := int(l.Parallelism)
	extra := make(map[string]string, n)
	for i := range n {
		b, err := SegmentConfig(i, n)
		if err != nil {
			return nil, nil, err
		}
		extra[segmentConfigName(i)] = string(b)
	}
	cm := l.scriptConfigMap(JobName(l.Name), extra)
	size := 0
	for _, v := range cm.Data {
		size += len(v)
	}
	if size > MaxScriptBytes {
		return nil, nil, fmt.Errorf("%w: %w: the script and %d segment configs take %d bytes, a ConfigMap holds at most %d",
			ErrInvalid, ErrScriptTooBig, n, size, MaxScriptBytes)
	}
	env := append([]corev1.EnvVar{{Name: EnvIndex, ValueFrom: &corev1.EnvVarSource{
		FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.annotations['" + AnnotationCompletionIndex + "']"},
	}}}, l.env()...)
	indexed := batchv1.IndexedCompletion
	zero := int32(0)
	job := &batchv1.Job{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: metav1.ObjectMeta{Name: JobName(l.Name), Namespace: l.Namespace, Labels: l.labels()},
		Spec: batchv1.JobSpec{
			CompletionMode:       &indexed,
			Completions:          &l.Parallelism,
			Parallelism:          &l.Parallelism,
			BackoffLimitPerIndex: &zero,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: l.labels()},
				Spec: corev1.PodSpec{
					RestartPolicy:                corev1.RestartPolicyNever,
					NodeSelector:                 l.NodeSelector,
					AutomountServiceAccountToken: new(false),
					Containers: []corev1.Container{{
						Name:            ContainerName,
						Image:           l.Image,
						ImagePullPolicy: l.PullPolicy,
						Args:            JobArgs(l),
						Env:             env,
						VolumeMounts:    []corev1.VolumeMount{{Name: "k6", MountPath: MountDir, ReadOnly: true}},
					}},
					Volumes: []corev1.Volume{{Name: "k6", VolumeSource: corev1.VolumeSource{
						ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: cm.Name}},
					}}},
				},
			},
		},
	}
	return cm, job, nil
}
