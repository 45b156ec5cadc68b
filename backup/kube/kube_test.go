package kube_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	kclient "k8s.io/client-go/kubernetes"

	"github.com/aiuptime/aiuptime/backup"
	bkube "github.com/aiuptime/aiuptime/backup/kube"
	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/kube/local"
	"github.com/aiuptime/aiuptime/redact/redacttest"
	"github.com/aiuptime/aiuptime/stack/kubernetes"
)

const (
	selector  = "app.kubernetes.io/part-of=aiuptime"
	secretVal = "sk-backup-canary-8d1f3a"
)

var stackLabels = map[string]string{"app.kubernetes.io/part-of": "aiuptime"}

// cluster starts a local control plane (tier 1, kwok) for the test, or
// skips naming `make kube` when its binaries are missing.
func cluster(t *testing.T) (kubernetes.Conn, kclient.Interface) {
	t.Helper()
	bin, err := local.BinDir()
	if err == nil {
		err = local.CheckBinaries(bin)
	}
	if err != nil {
		t.Skipf("skipping: %v", err)
	}
	dir := filepath.Join(t.TempDir(), "cluster")
	c, err := local.Up(t.Context(), local.WithStateDir(dir), local.WithBinDir(bin), local.WithName("backup-test"))
	t.Cleanup(func() { _ = local.Down(context.Background(), dir) })
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

func namespace(t *testing.T, cli kclient.Interface, name string, optIn bool) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if optIn {
		ns.Labels = map[string]string{kubernetes.LabelDrill: kubernetes.LabelDrillEnabled}
	}
	if _, err := cli.CoreV1().Namespaces().Create(t.Context(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func configMap(name string, l map[string]string, data map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l}, Data: data}
}

// seed creates the stack's ConfigMaps and Secret in ns, and one
// ConfigMap that is not the stack's.
func seed(t *testing.T, cli kclient.Interface, ns string) {
	t.Helper()
	ctx := t.Context()
	for _, cm := range []*corev1.ConfigMap{
		configMap("gateway-config", stackLabels, map[string]string{"config.yaml": "model_list: []\n"}),
		configMap("gateway-routes", stackLabels, map[string]string{"routes": "a->b"}),
		configMap("static", stackLabels, map[string]string{"k": "v"}),
		configMap("not-ours", map[string]string{"app": "other"}, map[string]string{"k": "theirs"}),
	} {
		if _, err := cli.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "gateway-key", Labels: stackLabels},
		Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"api-key": []byte(secretVal), "master-key": []byte(secretVal + "-m")}}
	if _, err := cli.CoreV1().Secrets(ns).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// assertSeeded checks that the objects seed made hold their data again.
func assertSeeded(t *testing.T, cli kclient.Interface, ns string) {
	t.Helper()
	ctx := t.Context()
	live, err := cli.CoreV1().Secrets(ns).Get(ctx, "gateway-key", metav1.GetOptions{})
	if err != nil || string(live.Data["api-key"]) != secretVal || string(live.Data["master-key"]) != secretVal+"-m" {
		t.Errorf("secret after restore: %v (data restored: %v)", err, err == nil && string(live.Data["api-key"]) == secretVal)
	}
	want := map[string]map[string]string{
		"gateway-config": {"config.yaml": "model_list: []\n"}, "gateway-routes": {"routes": "a->b"},
		"static": {"k": "v"}, "not-ours": {"k": "theirs"},
	}
	for name, data := range want {
		cm, err := cli.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(data, cm.Data); diff != "" {
			t.Errorf("configmap %s (-want +got):\n%s", name, diff)
		}
	}
}

// assertNoSecretValue fails when the secret's value (or its base64) is in
// any of texts.
func assertNoSecretValue(t *testing.T, texts map[string]string) {
	t.Helper()
	for what, text := range texts {
		if strings.Contains(text, secretVal) || strings.Contains(text, base64.StdEncoding.EncodeToString([]byte(secretVal))) {
			t.Errorf("the secret's value is in the %s", what)
		}
	}
}

// TestConfigMapSecretRoundTrip backs up the stack's ConfigMaps and
// Secrets on a real API server, deletes and changes them, restores, and
// checks the objects, the actions, and that no secret value reached the
// logs, the manifest or the report.
func TestConfigMapSecretRoundTrip(t *testing.T) {
	conn, cli := cluster(t)
	ctx := t.Context()
	const ns = "drill"
	namespace(t, cli, ns, true)
	seed(t, cli, ns)
	cms := cli.CoreV1().ConfigMaps(ns)
	secs := cli.CoreV1().Secrets(ns)

	var logs bytes.Buffer
	k, err := bkube.New(ctx, conn, ns, bkube.WithSelector(selector), bkube.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "snap")
	m, err := k.Backup(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, e := range m.Entries {
		paths = append(paths, e.Path)
	}
	want := []string{"configmaps/gateway-config.yaml", "configmaps/gateway-routes.yaml", "configmaps/static.yaml", "secrets/gateway-key.yaml"}
	if diff := cmp.Diff(want, paths); diff != "" {
		t.Errorf("snapshot files (-want +got):\n%s", diff)
	}
	if info, _ := m.SourceInfo(bkube.SourceSecrets); info.Meta["keys/gateway-key"] != "api-key,master-key" {
		t.Errorf("secret source meta = %v, want the key names", info.Meta)
	}
	stored, err := os.ReadFile(filepath.Join(dir, "secrets", "gateway-key.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(stored, []byte(base64.StdEncoding.EncodeToString([]byte(secretVal)))) {
		t.Error("the backup does not hold the secret's data")
	}

	// The disaster: delete one ConfigMap and the Secret, change another.
	if err := cms.Delete(ctx, "gateway-config", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := secs.Delete(ctx, "gateway-key", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cms.Update(ctx, configMap("gateway-routes", stackLabels, map[string]string{"routes": "drifted"}), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	rep, err := k.Restore(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range rep.Objects {
		got = append(got, o.String())
	}
	wantRep := []string{
		"ConfigMap gateway-config [config.yaml] created",
		"ConfigMap gateway-routes [routes] updated",
		"ConfigMap static [k] unchanged",
		"Secret gateway-key [api-key,master-key] created",
	}
	if diff := cmp.Diff(wantRep, got); diff != "" {
		t.Errorf("restore report (-want +got):\n%s", diff)
	}
	assertSeeded(t, cli, ns)

	manifest, _ := os.ReadFile(filepath.Join(dir, backup.ManifestName))
	assertNoSecretValue(t, map[string]string{"logs": logs.String(), "manifest": string(manifest), "report": strings.Join(got, "\n")})
	if !strings.Contains(logs.String(), "gateway-key") {
		t.Error("the logs do not name the secret")
	}
	if leaks, err := redacttest.ScanFiles([]string{filepath.Join(dir, "configmaps")}, secretVal); err != nil || len(leaks) > 0 {
		t.Errorf("secret value outside secrets/: %v %v", leaks, err)
	}
}

// TestRestoreRefuses: a corrupt snapshot, a namespace that does not opt
// in, and a live object under a backed-up name that is not the stack's are
// refused before anything is written.
func TestRestoreRefuses(t *testing.T) {
	conn, cli := cluster(t)
	ctx := t.Context()
	namespace(t, cli, "drill", true)
	namespace(t, cli, "plain", false)
	cms := cli.CoreV1().ConfigMaps("drill")
	if _, err := cms.Create(ctx, configMap("gateway-config", stackLabels, map[string]string{"a": "1"}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := bkube.New(ctx, conn, "plain", bkube.WithSelector(selector)); !errors.Is(err, kubernetes.ErrNotOptedIn) {
		t.Errorf("New in a namespace without opt-in: %v, want ErrNotOptedIn", err)
	}
	if _, err := bkube.New(ctx, conn, "drill", bkube.WithSelector("")); err == nil {
		t.Error("New accepted an empty selector")
	}
	k, err := bkube.New(ctx, conn, "drill", bkube.WithSelector(selector))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "snap")
	if _, err := k.Backup(ctx, dir); err != nil {
		t.Fatal(err)
	}

	// Corrupt: one byte changed; the live object must stay as it is.
	p := filepath.Join(dir, "configmaps", "gateway-config.yaml")
	b, _ := os.ReadFile(p)
	corrupt := bytes.Replace(b, []byte(`a: "1"`), []byte(`a: "2"`), 1)
	if bytes.Equal(corrupt, b) {
		t.Fatalf("test setup: nothing replaced in %s", b)
	}
	_ = os.WriteFile(p, corrupt, 0o600)
	if _, err := cms.Update(ctx, configMap("gateway-config", stackLabels, map[string]string{"a": "live"}), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Restore(ctx, dir); !errors.Is(err, backup.ErrCorrupt) {
		t.Errorf("Restore of a corrupt snapshot: %v, want ErrCorrupt", err)
	}
	if cm, _ := cms.Get(ctx, "gateway-config", metav1.GetOptions{}); cm.Data["a"] != "live" {
		t.Errorf("a refused restore wrote %v", cm.Data)
	}
	_ = os.WriteFile(p, b, 0o600)

	// Live object not the stack's any more: refused.
	if _, err := cms.Update(ctx, configMap("gateway-config", map[string]string{"app": "other"}, map[string]string{"a": "theirs"}), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Restore(ctx, dir); !errors.Is(err, bkube.ErrNotOwned) {
		t.Errorf("Restore over an object outside the selector: %v, want ErrNotOwned", err)
	}
	if cm, _ := cms.Get(ctx, "gateway-config", metav1.GetOptions{}); cm.Data["a"] != "theirs" {
		t.Errorf("a refused restore wrote %v", cm.Data)
	}
}

// TestHelperPodJournaledAndReplayed: a helper pod is journaled before it
// is created, so after a crash (the pod left, its record in the journal)
// `drill cleanup`'s replay deletes it; a record whose pod is not the one
// it created (label changed) is refused and the pod left alone.
func TestHelperPodJournaledAndReplayed(t *testing.T) {
	conn, cli := cluster(t)
	ctx := t.Context()
	const ns = "drill"
	namespace(t, cli, ns, true)
	empty := ""
	for _, name := range []string{"data", "other"} {
		pvc := &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: stackLabels},
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				StorageClassName: &empty,
				Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Mi")}},
			},
		}
		if _, err := cli.CoreV1().PersistentVolumeClaims(ns).Create(ctx, pvc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cli.CoreV1().PersistentVolumeClaims(ns).Create(ctx, &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "theirs", Labels: map[string]string{"app": "other"}},
		Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}, StorageClassName: &empty,
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Mi")}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	j, err := chaos.OpenJournal(chaos.WithStateDir(state))
	if err != nil {
		t.Fatal(err)
	}
	k, err := bkube.New(ctx, conn, ns, bkube.WithSelector(selector), bkube.WithJournal(j), bkube.WithRun("run-1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Backup(ctx, filepath.Join(t.TempDir(), "snap"), "theirs"); !errors.Is(err, bkube.ErrNotOwned) {
		t.Errorf("backup of a claim outside the selector: %v, want ErrNotOwned", err)
	}
	pod, err := k.StartHelperForTest(ctx, "data")
	if err != nil {
		t.Fatal(err)
	}
	tampered, err := k.StartHelperForTest(ctx, "other")
	if err != nil {
		t.Fatal(err)
	}
	recs, err := j.List()
	if err != nil || len(recs) != 2 || recs[0].Reverter != bkube.UndoHelperPod {
		t.Fatalf("journal: %+v %v, want 2 helper pod records", recs, err)
	}
	patch := []byte(`{"metadata":{"labels":{"` + bkube.LabelHelper + `":"someone-else"}}}`)
	if _, err := cli.CoreV1().Pods(ns).Patch(ctx, tampered, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}

	res, err := chaos.Replay(ctx, j.Dir(), chaos.WithRun("run-1"), chaos.WithForce())
	if len(res.Reverted) != 1 || len(res.Quarantined) != 1 || !errors.Is(err, chaos.ErrQuarantined) {
		t.Errorf("replay: reverted %d, quarantined %d, err %v; want 1, 1 and ErrQuarantined", len(res.Reverted), len(res.Quarantined), err)
	}
	if p, err := cli.CoreV1().Pods(ns).Get(ctx, pod, metav1.GetOptions{}); err == nil && p.DeletionTimestamp == nil {
		t.Errorf("helper pod %s still there after replay", pod)
	}
	if _, err := cli.CoreV1().Pods(ns).Get(ctx, tampered, metav1.GetOptions{}); err != nil {
		t.Errorf("the pod whose label no longer names the record was touched: %v", err)
	}
}
