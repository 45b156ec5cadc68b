package disk

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/chaos/chaostest"
)

// TestReplayRefusesCraftedDiskRecords plants disk records that point
// outside the run's volume or state files, as a crafted or stale journal
// would: the replay quarantines each one and the file outside is left
// exactly as it was. The run's containers mount vol (the proof the
// Docker prover gives, fixed here).
func TestReplayRefusesCraftedDiskRecords(t *testing.T) {
	vol := t.TempDir()
	outsideDir := t.TempDir()
	outside := filepath.Join(outsideDir, "precious.bin")
	const content = "do not touch: 0123456789abcdef"
	if err := os.WriteFile(outside, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outsideDir, filepath.Join(vol, "escape")); err != nil {
		t.Fatal(err)
	}
	inVol := filepath.Join(vol, "model.safetensors")
	if err := os.WriteFile(inVol, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, reverter, reason string
		state                  func(id, stateDir string) any
	}{
		{"wipe: snapshot of another record", "disk/wipe", "is not the record's own", func(_, stateDir string) any {
			return wipeState{Root: vol, Volume: vol, Snapshot: filepath.Join(stateDir, "snapshots", "someone-else")}
		}},
		{"wipe: snapshot outside the state dir", "disk/wipe", "is not the record's own", func(string, string) any {
			return wipeState{Root: vol, Volume: vol, Snapshot: outsideDir}
		}},
		{"wipe: root outside its volume", "disk/wipe", "is not beneath the volume", func(id, stateDir string) any {
			return wipeState{Root: outsideDir, Volume: vol, Snapshot: filepath.Join(stateDir, "snapshots", id)}
		}},
		{"wipe: a volume the run does not own", "disk/wipe", "is in no mount", func(id, stateDir string) any {
			return wipeState{Root: outsideDir, Volume: outsideDir, Snapshot: filepath.Join(stateDir, "snapshots", id)}
		}},
		{"corrupt: a file outside", "disk/corrupt", "is in no mount", func(string, string) any {
			return corruptState{File: outside, Original: []byte("XXXX")}
		}},
		{"corrupt: through a link in the volume", "disk/corrupt", "is a symbolic link", func(string, string) any {
			return corruptState{File: filepath.Join(vol, "escape", "precious.bin"), Volume: vol, Original: []byte("XXXX")}
		}},
		{"corrupt: more bytes than a fault flips", "disk/corrupt", "at most", func(string, string) any {
			return corruptState{File: inVol, Volume: vol, Original: make([]byte, MaxCorruptBytes+1)}
		}},
		{"full: a file not named after the record", "disk/full", "is not the record's own", func(string, string) any {
			return fullState{File: outside, Volume: vol}
		}},
		{"full: its own name, outside the volume", "disk/full", "is not beneath the volume", func(id, _ string) any {
			f := filepath.Join(outsideDir, FillerPrefix+id)
			_ = os.WriteFile(f, []byte(content), 0o600)
			return fullState{File: f, Volume: vol}
		}},
		{"readonly: immutable paths outside", "disk/readonly", "is in no mount", func(string, string) any {
			return roState{Immutable: []string{outside}}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := chaostest.PlantAndReplay(t, chaostest.Owns{Roots: []string{vol}}, chaos.Record{Reverter: tc.reverter, Target: "model-0"}, tc.state)
			chaostest.WantQuarantined(t, res, err, tc.reason)
			for _, f := range []string{outside, inVol} {
				if b, err := os.ReadFile(f); err != nil || string(b) != content {
					t.Fatalf("%s changed: %q %v", f, b, err)
				}
			}
		})
	}
}

// TestReplayOfOwnFillerStillWorks: a record that stays within its scope is
// replayed (the checks refuse only what is not the run's).
func TestReplayOfOwnFillerStillWorks(t *testing.T) {
	vol := t.TempDir()
	state := t.TempDir()
	j, err := chaos.OpenJournal(chaos.WithStateDir(state))
	if err != nil {
		t.Fatal(err)
	}
	id := chaos.NewID()
	filler := filepath.Join(vol, FillerPrefix+id)
	if err := os.WriteFile(filler, make([]byte, 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	chaostest.Plant(t, j, chaos.Record{ID: id, Reverter: "disk/full", Target: "gateway"}, fullState{File: filler, Volume: vol})
	res, err := chaostest.Replay(t, state, chaostest.Owns{Roots: []string{vol}})
	if err != nil || len(res.Reverted) != 1 {
		t.Fatalf("replay: %+v %v", res, err)
	}
	if _, err := os.Stat(filler); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("filler left: %v", err)
	}
}
