// Package kube runs k6 load on Kubernetes, in two ways:
//
//   - as a TestRun custom resource of the k6-operator (apiVersion
//     k6.io/v1alpha1), for clusters that run the operator. The operator's Go
//     module cannot be fetched here, so this package declares its own types
//     for the documented fields (the operator's docs/crd-generated.md and
//     "Configure the TestRun CRD"); NewTestRun generates the resource and the
//     ConfigMap holding the script, as YAML for `kubectl apply`.
//   - as a plain indexed Job (completionMode Indexed, parallelism =
//     completions = N) running bin/k6 with the xk6-aiuptime extension, for
//     clusters without the operator. Pod i runs k6's execution segment
//     i/N:(i+1)/N and prints its end-of-test summary on stdout; RunJob waits
//     for the Job, reads every pod's log through the API and Merge folds
//     the summaries into one (merge.go says what merges exactly and what
//     cannot).
//
// The TestRun path is generated and validated here but not run: the
// operator cannot be fetched, so no cluster here runs it. Its initializer
// pod inspects the script (`k6 inspect --execution-requirements`, per its
// troubleshooting docs) and, in upstream versions, does so through a
// shell: the FROM-scratch image of `make k6-image` (k6 only) serves the
// Job path, and an operator may need a runner image with a shell and k6
// (with the extension) on PATH.
//
// The gateway's API key never appears in a manifest: it reaches k6 as an
// environment variable filled from a Secret (secretKeyRef).
package kube

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The k6-operator's API group, version and kind.
const (
	APIVersion  = "k6.io/v1alpha1"
	KindTestRun = "TestRun"
)

// TestRun is the k6-operator's TestRun resource: one distributed k6 test.
type TestRun struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   TestRunSpec   `json:"spec"`
	Status TestRunStatus `json:"status,omitzero"`
}

// TestRunSpec is what the operator runs. Script and Parallelism are
// required.
type TestRunSpec struct {
	// Script says where the k6 script is: exactly one of its fields.
	Script Script `json:"script"`
	// Parallelism is the number of k6 runners; each gets an equal
	// execution segment.
	Parallelism int32 `json:"parallelism"`
	// Separate puts every runner on a different node (a podAntiAffinity
	// rule on the hostname).
	Separate bool `json:"separate,omitempty"`
	// Arguments are passed to `k6 run` (one string, split by the operator).
	Arguments string `json:"arguments,omitempty"`
	// Ports are added to every k6 container (6565, k6's API, always is).
	Ports []corev1.ContainerPort `json:"ports,omitempty"`
	// Initializer configures the pod that inspects the script before the
	// run (default: like the runners).
	Initializer *Pod `json:"initializer,omitempty"`
	// Starter configures the pod that starts the paused runners.
	Starter *Pod `json:"starter,omitempty"`
	// Runner configures the runner pods.
	Runner *Pod `json:"runner,omitempty"`
	// Quiet is "true" (default) or "false": whether k6 gets --quiet.
	Quiet string `json:"quiet,omitempty"`
	// Paused is "true" (default) or "false": whether the runners start
	// paused and wait for the starter (unpaused runners start unevenly).
	Paused string `json:"paused,omitempty"`
	// Cleanup "post" deletes the runners' resources after the test.
	Cleanup Cleanup `json:"cleanup,omitempty"`
}

// Script is where the runners find the script: exactly one of ConfigMap,
// VolumeClaim and LocalFile.
type Script struct {
	ConfigMap   *ConfigMapScript   `json:"configMap,omitempty"`
	VolumeClaim *VolumeClaimScript `json:"volumeClaim,omitempty"`
	// LocalFile is the script's path inside the runner image.
	LocalFile string `json:"localFile,omitempty"`
}

// ConfigMapScript is a script stored as a key of a ConfigMap in the
// TestRun's namespace (at most MaxScriptBytes: a ConfigMap's limit).
type ConfigMapScript struct {
	Name string `json:"name"`
	// File is the key (default "test.js"); no path component.
	File string `json:"file,omitempty"`
}

// VolumeClaimScript is a script on a PersistentVolumeClaim, mounted at
// /test in every k6 pod.
type VolumeClaimScript struct {
	Name string `json:"name"`
	// File is the script's path on the volume (default "test.js").
	File     string `json:"file,omitempty"`
	ReadOnly bool   `json:"readOnly,omitempty"`
}

// Pod configures the initializer, starter or runner pods.
type Pod struct {
	Image              string                      `json:"image,omitempty"`
	ImagePullPolicy    corev1.PullPolicy           `json:"imagePullPolicy,omitempty"`
	Env                []corev1.EnvVar             `json:"env,omitempty"`
	EnvFrom            []corev1.EnvFromSource      `json:"envFrom,omitempty"`
	Resources          corev1.ResourceRequirements `json:"resources,omitzero"`
	NodeSelector       map[string]string           `json:"nodeSelector,omitempty"`
	Tolerations        []corev1.Toleration         `json:"tolerations,omitempty"`
	Affinity           *corev1.Affinity            `json:"affinity,omitempty"`
	ServiceAccountName string                      `json:"serviceAccountName,omitempty"`
	SecurityContext    *corev1.PodSecurityContext  `json:"securityContext,omitempty"`
	Metadata           PodMetadata                 `json:"metadata,omitzero"`
}

// PodMetadata are labels and annotations added to the pods.
type PodMetadata struct {
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Cleanup says what the operator removes after the test.
type Cleanup string

// CleanupPost deletes the test's jobs and pods when it finished.
const CleanupPost Cleanup = "post"

// Stage is where the test is in its lifecycle (status.stage).
type Stage string

// The stages, in order; StageError ends a failed test.
const (
	StageInitialization Stage = "initialization"
	StageInitialized    Stage = "initialized"
	StageCreated        Stage = "created"
	StageStarted        Stage = "started"
	StageStopped        Stage = "stopped"
	StageFinished       Stage = "finished"
	StageError          Stage = "error"
)

// Done reports whether the stage is final (finished or error).
func (s Stage) Done() bool { return s == StageFinished || s == StageError }

// TestRunStatus is what the operator reports.
type TestRunStatus struct {
	Stage      Stage              `json:"stage,omitempty"`
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}
