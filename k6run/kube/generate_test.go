package kube

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// testLoad is a load as a drill would generate it.
func testLoad(t *testing.T) Load {
	t.Helper()
	script, err := os.ReadFile("testdata/fixed.js")
	if err != nil {
		t.Fatal(err)
	}
	return Load{
		Name:        "drill-load",
		Namespace:   "aiuptime",
		Script:      script,
		ScriptName:  "fixed.js",
		Parallelism: 3,
		GatewayURL:  "http://gateway.aiuptime.svc:4000/v1",
		Model:       "tiny",
		APIKey:      &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "gateway"}, Key: "api-key"},
		Env:         map[string]string{"ITERATIONS": "300", "VUS": "6"},
		Args:        []string{"--tag", "drill=quarterly dr"},
		Labels:      map[string]string{"aiuptime.run": "r1"},
	}
}

// golden compares got with testdata/name, rewriting it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", name, diff)
	}
}

func TestNewTestRunGoldenAndRoundTrip(t *testing.T) {
	l := testLoad(t)
	cm, tr, err := NewTestRun(l)
	if err != nil {
		t.Fatal(err)
	}
	out, err := YAML(cm, tr)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "testrun.golden.yaml", out)
	if bytes.Contains(out, []byte("secret-value")) || !bytes.Contains(out, []byte("secretKeyRef")) {
		t.Error("the API key must be a secretKeyRef")
	}

	docs := strings.Split(string(out), "---\n")
	if len(docs) != 2 {
		t.Fatalf("%d YAML documents, want 2", len(docs))
	}
	var cm2 corev1.ConfigMap
	var tr2 TestRun
	if err := yaml.UnmarshalStrict([]byte(docs[0]), &cm2); err != nil {
		t.Fatalf("configmap: %v", err)
	}
	if err := yaml.UnmarshalStrict([]byte(docs[1]), &tr2); err != nil {
		t.Fatalf("testrun: %v", err)
	}
	if diff := cmp.Diff(*cm, cm2); diff != "" {
		t.Errorf("configmap round trip (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(*tr, tr2); diff != "" {
		t.Errorf("testrun round trip (-want +got):\n%s", diff)
	}
	if cm2.Data["fixed.js"] != string(l.Script) {
		t.Error("the script did not survive the round trip byte for byte")
	}
	if tr2.Spec.Script.ConfigMap == nil || tr2.Spec.Script.ConfigMap.Name != cm2.Name {
		t.Errorf("testrun script %+v does not name the configmap %s", tr2.Spec.Script, cm2.Name)
	}
}

func TestNewJobGoldenAndRoundTrip(t *testing.T) {
	cm, job, err := NewJob(testLoad(t))
	if err != nil {
		t.Fatal(err)
	}
	out, err := YAML(cm, job)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "job.golden.yaml", out)
	docs := strings.Split(string(out), "---\n")
	var job2 batchv1.Job
	if err := yaml.UnmarshalStrict([]byte(docs[1]), &job2); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(*job, job2); diff != "" {
		t.Errorf("job round trip (-want +got):\n%s", diff)
	}
	if *job2.Spec.CompletionMode != batchv1.IndexedCompletion || *job2.Spec.Parallelism != 3 || *job2.Spec.Completions != 3 {
		t.Errorf("job spec: mode %v parallelism %d completions %d", *job2.Spec.CompletionMode, *job2.Spec.Parallelism, *job2.Spec.Completions)
	}
	for i, want := range []string{"0:1/3", "1/3:2/3", "2/3:1"} {
		if got := cm.Data[segmentConfigName(i)]; !strings.Contains(got, `"executionSegment":"`+want+`"`) ||
			!strings.Contains(got, `"executionSegmentSequence":"0,1/3,2/3,1"`) {
			t.Errorf("segment %d config = %s, want segment %s", i, got, want)
		}
	}
}

func TestSegments(t *testing.T) {
	tests := []struct {
		n        int
		segments []string
		sequence string
	}{
		{1, []string{"0:1"}, "0,1"},
		{2, []string{"0:1/2", "1/2:1"}, "0,1/2,1"},
		{4, []string{"0:1/4", "1/4:1/2", "1/2:3/4", "3/4:1"}, "0,1/4,1/2,3/4,1"},
	}
	for _, tt := range tests {
		var got []string
		for i := range tt.n {
			got = append(got, Segment(i, tt.n))
		}
		if diff := cmp.Diff(tt.segments, got); diff != "" {
			t.Errorf("segments of %d (-want +got):\n%s", tt.n, diff)
		}
		if got := SegmentSequence(tt.n); got != tt.sequence {
			t.Errorf("sequence of %d = %q, want %q", tt.n, got, tt.sequence)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Load)
		want   string
		is     error
	}{
		{"no script", func(l *Load) { l.Script = nil }, "no script", ErrInvalid},
		{"blank script", func(l *Load) { l.Script = []byte(" \n") }, "no script", ErrInvalid},
		{"parallelism zero", func(l *Load) { l.Parallelism = 0 }, "parallelism 0: want at least 1", ErrInvalid},
		{"parallelism negative", func(l *Load) { l.Parallelism = -2 }, "parallelism -2", ErrInvalid},
		{"too big", func(l *Load) { l.Script = bytes.Repeat([]byte("x"), MaxScriptBytes+1) }, "1048577 bytes", ErrScriptTooBig},
		{"bad name", func(l *Load) { l.Name = "Drill_Load" }, `name "Drill_Load"`, ErrInvalid},
		{"no namespace", func(l *Load) { l.Namespace = "" }, "namespace", ErrInvalid},
		{"inline api key", func(l *Load) { l.Env = map[string]string{"API_KEY": "sk-1"} }, "env API_KEY has a secret-like name", ErrInvalid},
		{"inline token", func(l *Load) { l.Env = map[string]string{"GATEWAY_TOKEN": "t"} }, "GATEWAY_TOKEN has a secret-like name", ErrInvalid},
		{"secret ref without key", func(l *Load) { l.APIKey.Key = "" }, "api key: want a Secret name and key", ErrInvalid},
		{"bad script name", func(l *Load) { l.ScriptName = "a/b.js" }, `script name "a/b.js"`, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := testLoad(t)
			tt.change(&l)
			_, _, err := NewTestRun(l)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, tt.is) {
				t.Errorf("NewTestRun: %v; want an error with %q wrapping %v", err, tt.want, tt.is)
			}
			if strings.Contains(errString(err), "sk-1") {
				t.Error("the secret value is in the error")
			}
			if _, _, err := NewJob(l); err == nil {
				t.Error("NewJob accepted it")
			}
		})
	}
	exact := testLoad(t)
	exact.Script = bytes.Repeat([]byte("x"), MaxScriptBytes)
	if _, _, err := NewTestRun(exact); err != nil {
		t.Errorf("a script of exactly %d bytes: %v", MaxScriptBytes, err)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
