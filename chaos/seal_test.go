package chaos_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/aiuptime/aiuptime/chaos"
)

const canary = "sk-canary-5f2a9e"

// sealedMarker journals a marker whose state holds a secret, sealed.
func sealedMarker(t *testing.T, j *chaos.Journal, path string) (chaos.Revert, chaos.Record) {
	t.Helper()
	rec := chaos.Record{Kind: "marker", Target: "t", Reverter: "test/marker", Sealed: true}
	rev, e, err := chaos.Apply(context.Background(), chaos.Deps{Journal: j, RunID: testRun}, rec, markerState{Path: path, Secret: canary},
		func(context.Context) error { return os.WriteFile(path, nil, 0o600) })
	if err != nil {
		t.Fatal(err)
	}
	return rev, e.Record()
}

func TestSealedStateNeverInClear(t *testing.T) {
	j, _, p := setup(t)
	rev, rec := sealedMarker(t, j, p)
	b, err := os.ReadFile(filepath.Join(j.Dir(), rec.ID+".json"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte(canary)) || bytes.Contains(b, []byte(p)) {
		t.Fatalf("journal file holds the state in clear:\n%s", b)
	}
	key, err := os.Stat(filepath.Join(filepath.Dir(j.Dir()), chaos.KeyFile))
	if err != nil || key.Mode().Perm() != 0o600 || key.Size() != 32 {
		t.Fatalf("journal key: %v %v", key, err)
	}
	if err := rev(context.Background()); err != nil || exists(p) {
		t.Fatalf("in-process revert of a sealed record: %v (marker left: %v)", err, exists(p))
	}
}

func TestSealedStateTamperedIsQuarantined(t *testing.T) {
	owner := deadOwner(t)
	cases := []struct {
		name   string
		change func(r *chaos.Record)
	}{
		{"bit flipped", func(r *chaos.Record) {
			var s []byte
			_ = json.Unmarshal(r.State, &s)
			s[len(s)-1] ^= 1
			r.State, _ = json.Marshal(s)
		}},
		{"moved to another record", func(r *chaos.Record) { r.ID = chaos.NewID() }},
		{"another reverter", func(r *chaos.Record) { r.Reverter = "none" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			j, _, p := setup(t)
			_, rec := sealedMarker(t, j, p)
			if err := j.Remove(rec.ID); err != nil {
				t.Fatal(err)
			}
			rec.Owner, rec.OwnerStart, rec.OwnerBoot = owner.PID, owner.Start, owner.Boot
			tc.change(&rec)
			if err := j.Write(rec); err != nil {
				t.Fatal(err)
			}
			res, err := chaos.Replay(context.Background(), j.Dir())
			if !errors.Is(err, chaos.ErrQuarantined) || len(res.Quarantined) != 1 || !exists(p) {
				t.Fatalf("replay of a tampered sealed record: %+v %v", res, err)
			}
		})
	}
}

func TestSealedStateOfAnotherStateDir(t *testing.T) {
	j, _, p := setup(t)
	_, rec := sealedMarker(t, j, p)
	other, _, _ := setup(t)
	rec.Owner = 0
	if err := other.Write(rec); err != nil {
		t.Fatal(err)
	}
	res, err := chaos.Replay(context.Background(), other.Dir())
	if !errors.Is(err, chaos.ErrQuarantined) || len(res.Quarantined) != 1 {
		t.Fatalf("a sealed record in another state dir must not open: %+v %v", res, err)
	}
}

func TestJournalKeyRefusedWhenReadable(t *testing.T) {
	j, _, p := setup(t)
	sealedMarker(t, j, p)
	key := filepath.Join(filepath.Dir(j.Dir()), chaos.KeyFile)
	if err := os.Chmod(key, 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := chaos.Apply(context.Background(), chaos.Deps{Journal: j}, chaos.Record{Kind: "marker", Target: "t", Reverter: "test/marker", Sealed: true},
		markerState{Path: p}, func(context.Context) error { return nil })
	if err == nil {
		t.Fatal("a world-readable journal key was used")
	}
}
