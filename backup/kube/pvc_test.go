package kube_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kclient "k8s.io/client-go/kubernetes"

	bkube "github.com/aiuptime/aiuptime/backup/kube"
	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/internal/fixturebin"
	"github.com/aiuptime/aiuptime/kube/local"
	"github.com/aiuptime/aiuptime/stack/kubernetes"
)

const helperImage = "aiuptime/pvctar:test"

// buildHelperImage builds the helper image FROM scratch with a static
// aiuptime-pvctar (no registry), or skips when Docker is unavailable.
func buildHelperImage(t *testing.T) {
	t.Helper()
	if err := exec.Command("docker", "version").Run(); err != nil {
		t.Skipf("skipping: docker: %v", err)
	}
	root, err := fixturebin.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	ctxDir := t.TempDir()
	build := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(ctxDir, "aiuptime-pvctar"), "./backup/kube/cmd/aiuptime-pvctar")
	build.Dir, build.Env = root, append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build helper: %v\n%s", err, out)
	}
	df := "FROM scratch\nCOPY aiuptime-pvctar " + bkube.HelperBinary + "\n"
	if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("docker", "build", "-q", "-t", helperImage, ctxDir).CombinedOutput(); err != nil {
		t.Fatalf("docker build: %v\n%s", err, out)
	}
}

// realNodeCluster starts a cluster with a real node running the helper
// image, or skips naming what is missing.
func realNodeCluster(t *testing.T) (kubernetes.Conn, kclient.Interface) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: the PVC helper pod needs the real node (kube/local.WithRealNode), which needs root")
	}
	bin, err := local.BinDir()
	if err == nil {
		err = local.CheckBinaries(bin)
	}
	if err != nil {
		t.Skipf("skipping: %v", err)
	}
	for _, f := range []string{filepath.Join(bin, local.Kubelet), "/usr/bin/containerd"} {
		if _, err := os.Stat(f); err != nil {
			t.Skipf("skipping: the PVC helper pod needs the real node: %v (`make kube`, `make deps`)", err)
		}
	}
	buildHelperImage(t)
	dir := filepath.Join(t.TempDir(), "cluster")
	c, err := local.Up(t.Context(), local.WithStateDir(dir), local.WithBinDir(bin), local.WithName("pvc-backup"),
		local.WithRealNode(), local.WithImages(helperImage), local.WithLogger(slog.New(slog.NewTextHandler(t.Output(), nil))))
	t.Cleanup(func() { _ = local.Down(context.Background(), dir) })
	if errors.Is(err, local.ErrNodeBusy) {
		t.Skipf("skipping: %v (another real node runs on this host)", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	conn := kubernetes.Conn{Kubeconfig: c.Kubeconfig}
	cli, err := conn.Client()
	if err != nil {
		t.Fatal(err)
	}
	return conn, cli
}

// hostPathClaim makes a hostPath PersistentVolume over dir and a claim
// bound to it, labelled as the stack's.
func hostPathClaim(t *testing.T, cli kclient.Interface, ns, name, dir string) {
	t.Helper()
	ctx := t.Context()
	size := resource.MustParse("64Mi")
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: ns + "-" + name},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: size},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			StorageClassName:              "",
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: dir}},
			ClaimRef:                      &corev1.ObjectReference{Namespace: ns, Name: name},
		},
	}
	if _, err := cli.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	empty := ""
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: stackLabels},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: &empty,
			VolumeName:       pv.Name,
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: size}},
		},
	}
	if _, err := cli.CoreV1().PersistentVolumeClaims(ns).Create(ctx, pvc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestClaimRoundTripOnRealNode backs up a claim through the helper pod,
// wipes it, restores it, and compares the files; the helper pods are
// journaled and gone afterwards.
func TestClaimRoundTripOnRealNode(t *testing.T) {
	conn, cli := realNodeCluster(t)
	ctx := t.Context()
	const ns = "drill"
	namespace(t, cli, ns, true)
	data := t.TempDir()
	write := func(rel, content string) {
		p := filepath.Join(data, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("models/tiny/weights.bin", strings.Repeat("w", 200000))
	write("models/tiny/manifest.json", `{"name":"tiny"}`)
	write("litellm.db", "spend rows")
	hostPathClaim(t, cli, ns, "data", data)
	want := readTree(t, data)

	state := t.TempDir()
	j, err := chaos.OpenJournal(chaos.WithStateDir(state))
	if err != nil {
		t.Fatal(err)
	}
	k, err := bkube.New(ctx, conn, ns, bkube.WithSelector(selector), bkube.WithJournal(j), bkube.WithHelperImage(helperImage),
		bkube.WithLogger(slog.New(slog.NewTextHandler(t.Output(), nil))))
	if err != nil {
		t.Fatal(err)
	}
	snap := filepath.Join(t.TempDir(), "snap")
	m, err := k.Backup(ctx, snap, "data")
	if err != nil {
		t.Fatal(err)
	}
	info, _ := m.SourceInfo(bkube.PVCSourcePrefix + "data")
	t.Logf("claim backed up: %v", info.Meta)
	if info.Meta["files"] != "3" {
		t.Errorf("backup meta %v, want 3 files", info.Meta)
	}

	// The disaster: the volume wiped, a stray file left.
	if err := os.RemoveAll(filepath.Join(data, "models")); err != nil {
		t.Fatal(err)
	}
	write("litellm.db", "corrupted")
	write("stray", "x")

	rep, err := k.Restore(ctx, snap)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("claims restored: %+v", rep.Claims)
	if diff := cmp.Diff(want, readTree(t, data)); diff != "" {
		t.Errorf("volume after restore (-want +got):\n%s", diff)
	}
	if recs, err := j.List(); err != nil || len(recs) != 0 {
		t.Errorf("journal after backup and restore: %v %v, want empty", recs, err)
	}
	pods, err := cli.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: bkube.LabelHelper})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			t.Errorf("helper pod %s left behind", p.Name)
		}
	}
}

// readTree reads dir into relative path -> content.
func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[rel] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
