package backup

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeRand(t testing.TB, p string, n int) {
	t.Helper()
	b := make([]byte, n)
	_, _ = rand.Read(b)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func liveDB(t testing.TB, p string, rows int) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+p+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE LiteLLM_SpendLogs (request_id TEXT PRIMARY KEY, end_time TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < rows; i++ {
		if _, err := db.Exec(`INSERT INTO LiteLLM_SpendLogs VALUES (?, ?)`, i, time.Unix(int64(1000+i), 0).UTC().Format(time.RFC3339Nano)); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

func TestSnapshotVerifyCorrupt(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	writeRand(t, filepath.Join(src, "models", "model-00001-of-00002.safetensors"), 4096)
	writeRand(t, filepath.Join(src, "models", "sub", "manifest.json"), 100)
	db := liveDB(t, filepath.Join(src, "gw.db"), 50)
	defer db.Close()
	// A writer keeps going while the snapshot is taken.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 200; i++ {
			_, _ = db.Exec(`INSERT INTO LiteLLM_SpendLogs VALUES (?, ?)`, "w"+string(rune('a'+i%26))+time.Now().String(), time.Now().UTC().Format(time.RFC3339Nano))
		}
	}()
	dir := filepath.Join(t.TempDir(), "snap")
	m, err := Snapshot(ctx, dir, "test", Files{ID: "models-x", Path: filepath.Join(src, "models")},
		SQLite{ID: SourceGatewayDB, Path: filepath.Join(src, "gw.db"), SpendTable: SpendTable})
	<-done
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Entries) != 3 {
		t.Fatalf("entries %+v", m.Entries)
	}
	info, _ := m.SourceInfo(SourceGatewayDB)
	if n, _ := SpendStatsRows(info); n < 50 {
		t.Fatalf("rows in backup %d, want >= 50", n)
	}
	if _, err := Verify(dir); err != nil {
		t.Fatal(err)
	}
	// Flip one byte: refused, naming the file.
	p := filepath.Join(dir, "models-x", "sub", "manifest.json")
	b, _ := os.ReadFile(p)
	b[0] ^= 0xff
	os.WriteFile(p, b, 0o644)
	_, err = Verify(dir)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "models-x/sub/manifest.json") {
		t.Fatalf("corrupt: got %v", err)
	}
	// An extra file is refused too.
	b[0] ^= 0xff
	os.WriteFile(p, b, 0o644)
	writeRand(t, filepath.Join(dir, "models-x", "intruder"), 1)
	if _, err := Verify(dir); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "intruder") {
		t.Fatalf("extra: got %v", err)
	}
	if _, err := Verify(filepath.Join(t.TempDir(), "nope")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing: got %v", err)
	}
	// Restore refuses a missing backup before needing anything else.
	if _, err := Restore(ctx, filepath.Join(t.TempDir(), "nope"), nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("restore missing: got %v", err)
	}
}

// BenchmarkBackupVsTar snapshots (copy + sha256 + manifest) and verifies +
// restores 64 MiB in 8 files, next to `tar cf` / `tar xf` of the same data
// in the same run; the ratios are reported as metrics.
func BenchmarkBackupVsTar(b *testing.B) {
	if _, err := exec.LookPath("tar"); err != nil {
		b.Skip("no tar")
	}
	ctx := context.Background()
	src := b.TempDir()
	const total = 64 << 20
	for i := 0; i < 8; i++ {
		writeRand(b, filepath.Join(src, "m", "shard-"+string(rune('0'+i))), total/8)
	}
	var tb, tt, rb, rt time.Duration
	for i := 0; i < b.N; i++ {
		work := b.TempDir()
		t0 := time.Now()
		if _, err := Snapshot(ctx, filepath.Join(work, "snap"), "bench", Files{ID: "m", Path: filepath.Join(src, "m")}); err != nil {
			b.Fatal(err)
		}
		tb += time.Since(t0)
		t0 = time.Now()
		if out, err := exec.Command("tar", "cf", filepath.Join(work, "m.tar"), "-C", src, "m").CombinedOutput(); err != nil {
			b.Fatal(err, string(out))
		}
		tt += time.Since(t0)
		t0 = time.Now()
		if _, err := Verify(filepath.Join(work, "snap")); err != nil {
			b.Fatal(err)
		}
		os.MkdirAll(filepath.Join(work, "r1"), 0o755)
		if err := refill(ctx, filepath.Join(work, "snap", "m"), filepath.Join(work, "r1")); err != nil {
			b.Fatal(err)
		}
		rb += time.Since(t0)
		os.MkdirAll(filepath.Join(work, "r2"), 0o755)
		t0 = time.Now()
		if out, err := exec.Command("tar", "xf", filepath.Join(work, "m.tar"), "-C", filepath.Join(work, "r2")).CombinedOutput(); err != nil {
			b.Fatal(err, string(out))
		}
		rt += time.Since(t0)
	}
	mb := float64(total) / (1 << 20) * float64(b.N)
	b.ReportMetric(mb/tb.Seconds(), "backup-MiB/s")
	b.ReportMetric(mb/tt.Seconds(), "tar-c-MiB/s")
	b.ReportMetric(mb/rb.Seconds(), "restore-MiB/s")
	b.ReportMetric(mb/rt.Seconds(), "tar-x-MiB/s")
	b.ReportMetric(tb.Seconds()/tt.Seconds(), "backup/tar-time")
	b.ReportMetric(rb.Seconds()/rt.Seconds(), "restore/tar-time")
}
