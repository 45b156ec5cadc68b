package faults

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/stack"
)

func TestKinds(t *testing.T) {
	want := []string{"container-kill", "container-pause", "container-remove", "container-restart", "container-stop", "disk-corrupt", "disk-full", "disk-readonly", "disk-wipe", "gpu-hang", "gpu-kill", "network-bandwidth", "network-delay", "network-loss", "network-partition"}
	ks := Kinds()
	if len(ks) != len(want) {
		t.Fatalf("%d kinds", len(ks))
	}
	for i, k := range ks {
		if k.Name != want[i] || k.Description == "" {
			t.Errorf("kind %d: %+v", i, k)
		}
		for _, p := range k.Params {
			if p.Doc == "" || p.Type == "" {
				t.Errorf("%s.%s undocumented", k.Name, p.Name)
			}
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		kind   string
		params map[string]any
		field  string // "" = valid
	}{
		{"network-delay", map[string]any{"delay": "200ms", "jitter": "20ms", "correlation": 25}, ""},
		{"network-delay", map[string]any{"delay": "-5ms"}, "params.delay"},
		{"network-delay", map[string]any{}, "params.delay"},
		{"network-delay", map[string]any{"delay": 200}, "params.delay"},
		{"network-delay", map[string]any{"delay": "1s", "jiter": "1ms"}, "params.jiter"},
		{"network-loss", map[string]any{"percent": 30}, ""},
		{"network-loss", map[string]any{"percent": 130}, "params.percent"},
		{"network-loss", map[string]any{"percent": 0}, "params.percent"},
		{"network-loss", map[string]any{"percent": "12.5%"}, ""},
		{"network-bandwidth", map[string]any{"rate": "100kbit"}, ""},
		{"network-bandwidth", map[string]any{"rate": "0kbit"}, "params.rate"},
		{"network-bandwidth", map[string]any{"rate": 0}, "params.rate"},
		{"network-partition", nil, ""},
		{"network-partition", map[string]any{"peer": "gateway"}, ""},
		{"gpu-kill", map[string]any{"signal": "TERM"}, ""},
		{"gpu-kill", map[string]any{"signal": "NOPE"}, "params.signal"},
		{"gpu-hang", map[string]any{"signal": "KILL"}, "params.signal"},
		{"disk-full", map[string]any{"volume": "data", "leave_bytes": 4096}, ""},
		{"disk-full", map[string]any{"volume": "data", "leave_bytes": -1}, "params.leave_bytes"},
		{"disk-wipe", map[string]any{"volume": "logs"}, "params.volume"},
		{"disk-corrupt", map[string]any{"volume": "models", "path": "../../etc/passwd"}, "params.path"},
		{"container-kill", map[string]any{"signal": "SIGTERM"}, ""},
		{"container-stop", map[string]any{"timeout": "2s"}, ""},
		{"network-jam", nil, "fault"},
	} {
		err := Validate(tc.kind, tc.params)
		if tc.field == "" {
			if err != nil {
				t.Errorf("%s %v: %v", tc.kind, tc.params, err)
			}
			continue
		}
		if err == nil || !strings.HasPrefix(err.Error(), tc.field) {
			t.Errorf("%s %v: want an error naming %s, got %v", tc.kind, tc.params, tc.field, err)
		}
	}
}

func TestBuildRefusesUnknownTarget(t *testing.T) {
	j, _ := chaos.OpenJournal(chaos.WithStateDir(t.TempDir()))
	st := &Attached{Svcs: []stack.Service{{Name: "model-0", Role: stack.RoleModel}}}
	if _, err := Build("gpu-kill", nil, stack.Service{}, Env{Stack: st, Journal: j}); err == nil || !strings.HasPrefix(err.Error(), "target") {
		t.Fatalf("missing target: %v", err)
	}
	f, err := Build("gpu-kill", nil, stack.Service{Name: "model-9"}, Env{Stack: st, Journal: j})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Inject(context.Background()); !errors.Is(err, chaos.ErrNotInStack) {
		t.Fatalf("want ErrNotInStack, got %v", err)
	}
	if _, err := chaos.ParseSelector(map[string]any{"role": "model", "percent": 150}); err == nil {
		t.Fatal("percent 150 accepted")
	}
}

func TestSelector(t *testing.T) {
	st := &Attached{Svcs: []stack.Service{{Name: "gateway", Role: stack.RoleGateway}, {Name: "model-1", Role: stack.RoleModel}, {Name: "model-0", Role: stack.RoleModel}, {Name: "model-2", Role: stack.RoleModel}}}
	for _, tc := range []struct {
		in   any
		want string
	}{
		{"gateway", "gateway"},
		{[]any{"model-0", "model-2"}, "model-0,model-2"},
		{map[string]any{"role": "model", "percent": 50}, "model-0,model-1"},
		{map[string]any{"role": "model", "percent": 10}, "model-0"},
		{map[string]any{"role": "model"}, "model-0,model-1,model-2"},
	} {
		sel, err := chaos.ParseSelector(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		svcs, err := sel.Select(context.Background(), st)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, s := range svcs {
			names = append(names, s.Name)
		}
		if got := strings.Join(names, ","); got != tc.want {
			t.Errorf("%v: got %s want %s", tc.in, got, tc.want)
		}
	}
	sel, _ := chaos.ParseSelector("model-7")
	if _, err := sel.Select(context.Background(), st); !errors.Is(err, chaos.ErrNotInStack) {
		t.Fatalf("unknown name: %v", err)
	}
}

func TestDryRunChangesNothing(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "w.safetensors"), []byte("0123456789"), 0o644); err != nil {
		t.Fatal(err)
	}
	st := &Attached{Svcs: []stack.Service{{Name: "model-0", Role: stack.RoleModel, Volumes: []stack.Volume{{Purpose: "models", HostPath: dir, MountPath: "/models"}}}}}
	var out bytes.Buffer
	j, _ := chaos.OpenJournal(chaos.WithStateDir(t.TempDir()))
	f, err := Build("disk-wipe", map[string]any{"volume": "models"}, stack.Service{Name: "model-0"}, Env{Stack: st, DryRun: true, Out: &out, Journal: j})
	if err != nil {
		t.Fatal(err)
	}
	rev, err := f.Inject(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	_ = rev(context.Background())
	if !strings.Contains(out.String(), "remove every entry under "+dir) {
		t.Fatalf("dry-run output: %s", out.String())
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "w.safetensors")); string(b) != "0123456789" {
		t.Fatal("dry-run changed the volume")
	}
	if recs, _ := j.List(); len(recs) != 0 {
		t.Fatal("dry-run journaled")
	}
	t.Log(out.String())
}
