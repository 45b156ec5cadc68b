package drill

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aiuptime/aiuptime/backup"
	"github.com/aiuptime/aiuptime/drill/plan"
	"github.com/aiuptime/aiuptime/reports"
	"github.com/aiuptime/aiuptime/rollout"
	"github.com/aiuptime/aiuptime/stack"
)

// volumeStack is chatStack's real servers with volumes in temp dirs and a
// lifecycle that records restarts (its servers keep serving).
type volumeStack struct {
	stack.Stack
	vols     map[string]string // service/purpose -> host path
	mu       sync.Mutex
	restarts []string
}

func (s *volumeStack) Volume(_ context.Context, service, purpose string) (stack.Volume, error) {
	p, ok := s.vols[service+"/"+purpose]
	if !ok {
		return stack.Volume{}, stack.ErrNotFound
	}
	return stack.Volume{Purpose: purpose, HostPath: p}, nil
}

func (s *volumeStack) Act(_ context.Context, service string, a stack.Action) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.restarts = append(s.restarts, service+":"+string(a.Op))
	return nil
}

func (s *volumeStack) RunState(context.Context, string) (stack.RunState, error) {
	return stack.RunState{}, nil
}

func (s *volumeStack) UndoOf(context.Context, string, stack.Action) (stack.Undo, error) {
	return stack.Undo{}, nil
}

func newVolumeStack(t *testing.T) (*volumeStack, string) {
	st, _, _ := chatStack(t)
	tmp := t.TempDir()
	models := filepath.Join(tmp, "models")
	if err := os.MkdirAll(models, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"weights.bin", "config.json"} {
		if err := os.WriteFile(filepath.Join(models, f), []byte("v1 "+f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := filepath.Join(tmp, "gateway.yaml")
	if err := os.WriteFile(cfg, []byte("model_list: [model-0]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return &volumeStack{Stack: st, vols: map[string]string{"model-0/" + stack.VolumeModels: models, "gateway/" + stack.VolumeConfig: cfg}}, models
}

// TestBackupBeforeUpdate wraps a stand-in update (it changes a model file
// and decides) with the real backup and restore, on real files.
func TestBackupBeforeUpdate(t *testing.T) {
	tests := []struct {
		name      string
		params    map[string]any
		decision  string
		change    bool   // the update leaves weights.bin changed
		breakVol  bool   // the models volume is gone: the backup fails
		note      string // of the backup ref
		restored  []string
		detail    string
		failed    bool
		updateRan bool
	}{
		{name: "rolled back, models put back", decision: rollout.DecisionRolledBack, change: true, restored: []string{"models-model-0/weights.bin"},
			detail: "restored models and config from the backup: 1 files differed and were put back", updateRan: true},
		{name: "rolled back, nothing differed", decision: rollout.DecisionRolledBack, restored: []string{},
			detail: "restored models and config from the backup: nothing differed", updateRan: true},
		{name: "completed, nothing restored", decision: rollout.DecisionCompleted, change: true, detail: "verified)", updateRan: true},
		{name: "opted out", params: map[string]any{"backup": false}, decision: rollout.DecisionCompleted, note: "not taken: the step opts out (backup: false)", updateRan: true},
		{name: "backup fails", breakVol: true, failed: true, detail: "rolling-update not started: backup before the update", note: "failed: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, models := newVolumeStack(t)
			if tc.breakVol {
				st.vols["model-0/"+stack.VolumeModels] = filepath.Join(models, "gone")
			}
			env := &ActionEnv{Stack: st, Log: slog.New(slog.DiscardHandler), Shared: &sync.Map{}, StateDir: t.TempDir()}
			ran := false
			update := withBackup(func(_ context.Context, env *ActionEnv, _ plan.Step) (*ActionOutcome, error) {
				ran = true
				if dir, ok := env.Shared.Load(SharedUpdateBackup); ok {
					if _, err := backup.Verify(dir.(string)); err != nil {
						t.Errorf("the backup is not verified before the update starts: %v", err)
					}
				} else if tc.params == nil {
					t.Error("the update started without its backup")
				}
				if tc.change {
					if err := os.WriteFile(filepath.Join(models, "weights.bin"), []byte("v2"), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				return &ActionOutcome{Rollout: &reports.Rollout{Kind: "rolling-update", Decision: tc.decision}, Detail: "update " + tc.decision}, nil
			})
			out, err := update(t.Context(), env, plan.Step{Name: "u", Action: "rolling-update", Params: tc.params})
			if err != nil {
				t.Fatal(err)
			}
			if ran != tc.updateRan || out.Failed != tc.failed || !strings.Contains(out.Detail, tc.detail) {
				t.Errorf("ran %t failed %t detail %q; want ran %t failed %t detail containing %q", ran, out.Failed, out.Detail, tc.updateRan, tc.failed, tc.detail)
			}
			ref := out.Rollout.Backup
			if ref == nil {
				t.Fatal("no backup in the rollout's report")
			}
			if tc.note != "" {
				if !strings.HasPrefix(ref.Note, tc.note) || ref.Verified {
					t.Errorf("backup %+v, want note %q", ref, tc.note)
				}
				return
			}
			if !ref.Verified || ref.Files < 3 || ref.Bytes == 0 || ref.TakenAt.IsZero() || !strings.HasPrefix(ref.Dir, env.StateDir) {
				t.Errorf("backup ref %+v", ref)
			}
			if tc.restored == nil {
				if ref.Restored != nil {
					t.Errorf("restored after %s: %+v", tc.decision, ref.Restored)
				}
				return
			}
			if r := ref.Restored; r == nil || !slices.Equal(r.Changed, tc.restored) || r.Error != "" || !slices.Equal(r.Parts, []string{"models", "config"}) {
				t.Fatalf("restored %+v, want changed %v", ref.Restored, tc.restored)
			}
			if b, _ := os.ReadFile(filepath.Join(models, "weights.bin")); string(b) != "v1 weights.bin" {
				t.Errorf("weights.bin after the restore: %q", b)
			}
		})
	}
}

// TestUpdateBackupAndTheLastBackup: the update's backup becomes the
// drill's last backup (a restore step's) only when no backup step took
// one earlier.
func TestUpdateBackupAndTheLastBackup(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name      string
		before    map[string]any
		wantLast  string
		wantAtSet bool
	}{
		{"no backup yet", nil, "u2", true},
		{"a backup step's stays", map[string]any{SharedLastBackup: "explicit"}, "explicit", false},
		{"an earlier update's is replaced", map[string]any{SharedLastBackup: "u1", SharedUpdateBackup: "u1"}, "u2", true},
		{"a backup step after an update stays", map[string]any{SharedLastBackup: "explicit", SharedUpdateBackup: "u1"}, "explicit", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := &ActionEnv{Shared: &sync.Map{}}
			for k, v := range tc.before {
				env.Shared.Store(k, v)
			}
			keepUpdateBackup(env, "u2", at)
			last, _ := env.Shared.Load(SharedLastBackup)
			gotAt, _ := env.Shared.Load(SharedBackupAt)
			if last != tc.wantLast || (gotAt == at) != tc.wantAtSet {
				t.Errorf("last %v at %v; want %s (at set: %t)", last, gotAt, tc.wantLast, tc.wantAtSet)
			}
			if u, _ := env.Shared.Load(SharedUpdateBackup); u != "u2" {
				t.Errorf("update backup %v", u)
			}
		})
	}
}
