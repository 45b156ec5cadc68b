package kube

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"

	"github.com/aiuptime/aiuptime/backup"
	"github.com/aiuptime/aiuptime/backup/kube/pvctar"
	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/stack"
	"github.com/aiuptime/aiuptime/stack/kubernetes"
)

// The helper pod.
const (
	// UndoHelperPod is the journaled undo that deletes a helper pod.
	UndoHelperPod = "kubernetes/backup-helper-pod"
	// KindHelperPod is the journal record's kind.
	KindHelperPod = "backup-helper-pod"
	// LabelHelper marks a helper pod; its value is the journal record id,
	// which a replay checks before it deletes anything.
	LabelHelper = "aiuptime.io/backup-helper"
	// HelperBinary is the helper program's path in its image.
	HelperBinary = "/aiuptime-pvctar"
	// HelperMount is where the claim is mounted in the helper pod.
	HelperMount = "/data"
	// HelperContainer is the helper pod's container.
	HelperContainer = "pvctar"
	// DefaultHelperTTL is how long a helper pod lives at most: its main
	// process exits after it and activeDeadlineSeconds stops it, so even
	// a helper nobody deletes goes away.
	DefaultHelperTTL = 15 * time.Minute
	// DataFile is a claim's tar inside its snapshot directory.
	DataFile = "data.tar"
)

// ErrChecksum means the tar the helper wrote or read differs from what
// the harness received or sent.
var ErrChecksum = errors.New("helper tar checksum mismatch")

// Claim is one claim backed up or restored, as reports show it.
type Claim struct {
	Name    string  `json:"name"`
	Files   int     `json:"files"`
	Dirs    int     `json:"dirs"`
	Skipped int     `json:"skipped,omitempty"`
	Bytes   int64   `json:"bytes"`
	SHA256  string  `json:"sha256"`
	Seconds float64 `json:"seconds"`
}

// helperState is the journaled state of a helper pod; it holds no secret.
type helperState struct {
	Conn      kubernetes.Conn `json:"conn"`
	Namespace string          `json:"namespace"`
	Pod       string          `json:"pod"`
	Record    string          `json:"record"`
}

func init() {
	stack.RegisterUndoState(UndoHelperPod, func(ctx context.Context, _ stack.Scope, st helperState) error {
		cli, err := st.Conn.Client()
		if err != nil {
			return err
		}
		zero := int64(0)
		err = cli.CoreV1().Pods(st.Namespace).Delete(ctx, st.Pod, metav1.DeleteOptions{GracePeriodSeconds: &zero})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete helper pod %s/%s: %w", st.Namespace, st.Pod, err)
		}
		return nil
	})
}

// Check implements stack.UndoChecker: the namespace still opts in and
// carries the record's labels, and the pod is the one the record created
// (its LabelHelper is the record id). A gone namespace, pod or kubeconfig
// counts as undone.
func (st helperState) Check(ctx context.Context, sc stack.Scope) error {
	if st.Namespace == "" || st.Pod == "" || st.Record == "" {
		return stack.Untrusted("helper pod state names no namespace, pod or record")
	}
	if !st.Conn.InCluster && st.Conn.Kubeconfig != "" {
		if _, err := os.Stat(st.Conn.Kubeconfig); errors.Is(err, os.ErrNotExist) {
			return stack.ErrGone
		}
	}
	cli, err := st.Conn.Client()
	if err != nil {
		return err
	}
	ns, err := cli.CoreV1().Namespaces().Get(ctx, st.Namespace, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return stack.ErrGone
	}
	if err != nil {
		return fmt.Errorf("namespace %s: %w", st.Namespace, err)
	}
	if ns.Labels[kubernetes.LabelDrill] != kubernetes.LabelDrillEnabled {
		return stack.Untrusted("namespace %s no longer carries %s=%s", st.Namespace, kubernetes.LabelDrill, kubernetes.LabelDrillEnabled)
	}
	if err := sc.CarriesLabels(ns.Labels); err != nil {
		return fmt.Errorf("namespace %s: %w", st.Namespace, err)
	}
	p, err := cli.CoreV1().Pods(st.Namespace).Get(ctx, st.Pod, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return stack.ErrGone
	}
	if err != nil {
		return fmt.Errorf("pod %s/%s: %w", st.Namespace, st.Pod, err)
	}
	if p.Labels[LabelHelper] != st.Record {
		return stack.Untrusted("pod %s/%s is not the helper of record %s", st.Namespace, st.Pod, st.Record)
	}
	return nil
}

// helperPod is the pod spec of a helper for claim.
func (k *Kube) helperPod(name, id, claim string, readOnly bool) *corev1.Pod {
	ttl := int64(DefaultHelperTTL / time.Second)
	deadline := ttl + 60
	zero := int64(0)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: k.ns, Labels: map[string]string{
			LabelHelper: id, "app.kubernetes.io/managed-by": "aiuptime",
		}},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			ActiveDeadlineSeconds:         &deadline,
			TerminationGracePeriodSeconds: &zero,
			AutomountServiceAccountToken:  new(false),
			Containers: []corev1.Container{{
				Name:            HelperContainer,
				Image:           k.o.image,
				ImagePullPolicy: corev1.PullNever,
				Command:         []string{HelperBinary, "idle", strconv.FormatInt(ttl, 10) + "s"},
				VolumeMounts:    []corev1.VolumeMount{{Name: "data", MountPath: HelperMount, ReadOnly: readOnly}},
			}},
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim, ReadOnly: readOnly},
			}}},
		},
	}
}

// withHelper runs fn with a running helper pod mounting claim (read-only
// for a backup). The pod is deleted (and its record removed) afterwards,
// also when ctx ends.
func (k *Kube) withHelper(ctx context.Context, claim string, readOnly bool, fn func(pod string) error) (err error) {
	entry, name, err := k.startHelper(ctx, claim, readOnly)
	if entry != nil {
		defer func() { err = errors.Join(err, entry.Revert()(ctx)) }()
	}
	if err != nil {
		return err
	}
	if err := k.waitRunning(ctx, name); err != nil {
		return err
	}
	return fn(name)
}

// startHelper proves the claim is the stack's (it matches the selector),
// journals a helper pod for it and then creates the pod. The entry is
// returned whenever the record was written, even with an error, so the
// caller reverts it.
func (k *Kube) startHelper(ctx context.Context, claim string, readOnly bool) (*chaos.Entry, string, error) {
	pvc, err := k.cli.CoreV1().PersistentVolumeClaims(k.ns).Get(ctx, claim, metav1.GetOptions{})
	if err != nil {
		return nil, "", fmt.Errorf("claim %s/%s: %w", k.ns, claim, err)
	}
	if err := k.owns("persistentvolumeclaim", claim, pvc.Labels); err != nil {
		return nil, "", err
	}
	id := chaos.NewID()
	name := "aiuptime-pvc-" + strings.ToLower(id)
	entry, err := k.o.journal.Begin(chaos.Record{
		ID: id, RunID: k.o.run, Kind: KindHelperPod, Target: k.ns + "/" + claim, Reverter: UndoHelperPod,
		Mechanism: "kubernetes pod", Note: "helper pod streaming the claim's contents; delete it",
		Labels: map[string]string{kubernetes.LabelDrill: kubernetes.LabelDrillEnabled},
	}, helperState{Conn: k.conn, Namespace: k.ns, Pod: name, Record: id})
	if err != nil {
		return nil, "", fmt.Errorf("journal helper pod for %s: %w", claim, err)
	}
	if _, err := k.cli.CoreV1().Pods(k.ns).Create(ctx, k.helperPod(name, id, claim, readOnly), metav1.CreateOptions{}); err != nil {
		return entry, name, fmt.Errorf("create helper pod for %s: %w", claim, err)
	}
	k.o.log.Info("helper pod created", "namespace", k.ns, "pod", name, "claim", claim, "read_only", readOnly)
	return entry, name, nil
}

// waitRunning polls the pod until it runs; a pod that ended is an error.
func (k *Kube) waitRunning(ctx context.Context, name string) error {
	err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		p, err := k.cli.CoreV1().Pods(k.ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		switch p.Status.Phase {
		case corev1.PodRunning:
			return true, nil
		case corev1.PodFailed, corev1.PodSucceeded:
			return false, fmt.Errorf("helper pod ended: %s %s", p.Status.Phase, p.Status.Reason)
		}
		for _, cs := range p.Status.ContainerStatuses {
			if w := cs.State.Waiting; w != nil && (w.Reason == "ErrImageNeverPull" || strings.Contains(w.Reason, "ImagePull")) {
				return false, fmt.Errorf("helper image %s is not on the node (%s): build it locally and import it", k.o.image, w.Reason)
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("helper pod %s/%s: %w", k.ns, name, err)
	}
	return nil
}

// exec runs the helper program in pod with stdin (may be nil), copies
// its stdout to stdout and returns the Stats it printed on stderr.
func (k *Kube) exec(ctx context.Context, pod string, args []string, stdin io.Reader, stdout io.Writer) (pvctar.Stats, error) {
	var st pvctar.Stats
	req := k.cli.CoreV1().RESTClient().Post().Resource("pods").Namespace(k.ns).Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{
			Container: HelperContainer, Command: append([]string{HelperBinary}, args...),
			Stdin: stdin != nil, Stdout: true, Stderr: true,
		}, scheme.ParameterCodec)
	ws, err := remotecommand.NewWebSocketExecutor(k.cfg, "GET", req.URL().String())
	if err != nil {
		return st, fmt.Errorf("exec in %s: %w", pod, err)
	}
	spdy, err := remotecommand.NewSPDYExecutor(k.cfg, "POST", req.URL())
	if err != nil {
		return st, fmt.Errorf("exec in %s: %w", pod, err)
	}
	ex, err := remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	if err != nil {
		return st, fmt.Errorf("exec in %s: %w", pod, err)
	}
	var stderr bytes.Buffer
	err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: stdin, Stdout: stdout, Stderr: &stderr})
	if err != nil {
		return st, fmt.Errorf("exec %s in %s: %w: %s", args[0], pod, err, strings.TrimSpace(lastLine(stderr.String())))
	}
	if err := json.Unmarshal([]byte(lastLine(stderr.String())), &st); err != nil {
		return st, fmt.Errorf("exec %s in %s: no stats on stderr: %w", args[0], pod, err)
	}
	return st, nil
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// claimSource backs up one claim's contents as DataFile.
type claimSource struct {
	k     *Kube
	claim string
}

// Name implements backup.Source.
func (s claimSource) Name() string { return PVCSourcePrefix + s.claim }

// Collect implements backup.Source: a read-only helper pod streams the
// claim as a tar, which is written to DataFile and hashed on the way; the
// helper's own checksum of what it wrote must match.
func (s claimSource) Collect(ctx context.Context, dir string) (backup.SourceInfo, error) {
	info := backup.SourceInfo{Kind: KindPVC, From: fmt.Sprintf("persistentvolumeclaim %s/%s via helper pod", s.k.ns, s.claim)}
	start := time.Now()
	err := s.k.withHelper(ctx, s.claim, true, func(pod string) error {
		f, err := os.OpenFile(filepath.Join(dir, DataFile), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		h := sha256.New()
		st, err := s.k.exec(ctx, pod, []string{"create", HelperMount}, nil, io.MultiWriter(f, h))
		if cerr := f.Sync(); err == nil {
			err = cerr
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != st.SHA256 {
			return fmt.Errorf("claim %s: %w: received sha256 %s, the helper wrote %s", s.claim, ErrChecksum, got, st.SHA256)
		}
		info.Meta = claimMeta(st, time.Since(start))
		return nil
	})
	return info, err
}

func claimMeta(st pvctar.Stats, d time.Duration) map[string]string {
	return map[string]string{
		"sha256": st.SHA256, "bytes": strconv.FormatInt(st.Bytes, 10),
		"files": strconv.Itoa(st.Files), "dirs": strconv.Itoa(st.Dirs), "skipped": strconv.Itoa(st.Skipped),
		"seconds": strconv.FormatFloat(d.Seconds(), 'f', 3, 64),
	}
}

// restoreClaim writes a verified snapshot's claim back: a helper pod
// mounting it read-write empties it and extracts the tar from stdin; the
// helper's checksum of what it read must match the manifest's.
func (k *Kube) restoreClaim(ctx context.Context, dir string, m *backup.Manifest, src backup.SourceInfo) (Claim, error) {
	claim := strings.TrimPrefix(src.Name, PVCSourcePrefix)
	c := Claim{Name: claim}
	rel := src.Name + "/" + DataFile
	var want string
	for _, e := range m.Entries {
		if e.Path == rel {
			want = e.SHA256
		}
	}
	if want == "" {
		return c, fmt.Errorf("restore claim %s: %s not in the manifest: %w", claim, rel, backup.ErrCorrupt)
	}
	start := time.Now()
	err := k.withHelper(ctx, claim, false, func(pod string) error {
		f, err := os.Open(filepath.Join(dir, filepath.FromSlash(rel)))
		if err != nil {
			return err
		}
		defer f.Close()
		st, err := k.exec(ctx, pod, []string{"extract", "-clean", HelperMount}, f, io.Discard)
		if err != nil {
			return err
		}
		if st.SHA256 != want {
			return fmt.Errorf("restore claim %s: %w: the helper read sha256 %s, the manifest says %s", claim, ErrChecksum, st.SHA256, want)
		}
		c.Files, c.Dirs, c.Bytes, c.SHA256 = st.Files, st.Dirs, st.Bytes, st.SHA256
		return nil
	})
	c.Seconds = time.Since(start).Seconds()
	if err == nil {
		k.o.log.Info("claim restored", "namespace", k.ns, "claim", claim, "files", c.Files, "bytes", c.Bytes)
	}
	return c, err
}
