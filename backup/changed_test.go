package backup

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/aiuptime/aiuptime/stack"
)

// volumeStack is a stack whose only capability is volumes in temp dirs:
// Changed reads nothing else.
type volumeStack struct {
	stack.Stack
	vols map[string]string // service/purpose -> host path
}

func (s volumeStack) Volume(_ context.Context, service, purpose string) (stack.Volume, error) {
	p, ok := s.vols[service+"/"+purpose]
	if !ok {
		return stack.Volume{}, stack.ErrNotFound
	}
	return stack.Volume{Purpose: purpose, HostPath: p}, nil
}

func TestChangedListsWhatARestorePutsBack(t *testing.T) {
	tmp := t.TempDir()
	models, cfg := filepath.Join(tmp, "models"), filepath.Join(tmp, "gw", "config.yaml")
	for p, body := range map[string]string{filepath.Join(models, "weights.bin"): "w1", filepath.Join(models, "tokenizer.json"): "t1", cfg: "model_list: []\n"} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	snap := filepath.Join(tmp, "snap")
	if _, err := Snapshot(context.Background(), snap, "test", Files{ID: ModelsPrefix + "model-0", Path: models}, Files{ID: SourceGatewayConfig, Path: cfg}); err != nil {
		t.Fatal(err)
	}
	st := volumeStack{vols: map[string]string{"model-0/" + stack.VolumeModels: models, "gateway/" + stack.VolumeConfig: cfg}}
	changed := func(opts ...Option) []string {
		t.Helper()
		got, err := Changed(context.Background(), snap, st, opts...)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		return got
	}
	if got := changed(WithOnly("models", "config")); len(got) != 0 {
		t.Errorf("nothing changed yet, got %v", got)
	}
	if err := os.WriteFile(filepath.Join(models, "weights.bin"), []byte("w2"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(models, "tokenizer.json")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte("model_list: [x]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	want := []string{"config-gateway/config.yaml", "models-model-0/tokenizer.json", "models-model-0/weights.bin"}
	if got := changed(WithOnly("models", "config")); !slices.Equal(got, want) {
		t.Errorf("changed %v, want %v", got, want)
	}
	if got := changed(WithOnly("config")); !slices.Equal(got, want[:1]) {
		t.Errorf("only config: %v", got)
	}
}
