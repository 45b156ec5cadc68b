package files

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// tree makes dirs directories of files files each, two levels deep.
func tree(b *testing.B, dirs, files int) string {
	root := b.TempDir()
	for d := range dirs {
		dir := filepath.Join(root, fmt.Sprintf("d%03d", d%8), fmt.Sprintf("s%03d", d))
		must(b, os.MkdirAll(dir, 0o755))
		for f := range files {
			must(b, os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%04d", f)), nil, 0o644))
		}
	}
	return root
}

// BenchmarkWalkBeneathVsWalkDir walks one tree (64 directories of 64
// files) with Root.Walk (descriptor-based, no links followed) and with
// filepath.WalkDir, in the same run, both for each resolver; the metrics
// are each one's time per walk and the ratio.
func BenchmarkWalkBeneathVsWalkDir(b *testing.B) {
	dir := tree(b, 64, 64)
	for _, rs := range []struct {
		name string
		opts []Option
	}{{ResolverOpenat2, nil}, {ResolverWalk, []Option{forceWalk()}}} {
		b.Run(rs.name, func(b *testing.B) {
			r, err := OpenRoot(dir, rs.opts...)
			must(b, err)
			defer r.Close()
			var tb, tw time.Duration
			var nb, nw int
			for b.Loop() {
				t0 := time.Now()
				must(b, r.Walk(".", func(*Entry) error { nb++; return nil }))
				tb += time.Since(t0)
				t0 = time.Now()
				must(b, filepath.WalkDir(dir, func(string, fs.DirEntry, error) error { nw++; return nil }))
				tw += time.Since(t0)
			}
			if nb != nw {
				b.Fatalf("beneath saw %d entries, WalkDir %d", nb, nw)
			}
			n := float64(b.N)
			b.ReportMetric(float64(tb.Microseconds())/n, "beneath-µs/walk")
			b.ReportMetric(float64(tw.Microseconds())/n, "walkdir-µs/walk")
			b.ReportMetric(tb.Seconds()/tw.Seconds(), "beneath/walkdir")
		})
	}
}

// BenchmarkResolve opens one file eight directories deep: beneath the root
// with each resolver, and with os.Open on the full path (which follows
// links) for comparison.
func BenchmarkResolve(b *testing.B) {
	dir := b.TempDir()
	rel := filepath.Join("a", "b", "c", "d", "e", "f", "g", "h")
	must(b, os.MkdirAll(filepath.Join(dir, rel), 0o755))
	rel = filepath.Join(rel, "file")
	must(b, os.WriteFile(filepath.Join(dir, rel), nil, 0o644))
	for _, rs := range []struct {
		name string
		opts []Option
	}{{ResolverOpenat2, nil}, {ResolverWalk, []Option{forceWalk()}}} {
		b.Run(rs.name, func(b *testing.B) {
			r, err := OpenRoot(dir, rs.opts...)
			must(b, err)
			defer r.Close()
			for b.Loop() {
				f, err := r.Open(rel)
				must(b, err)
				f.Close()
			}
		})
	}
	b.Run("os.Open", func(b *testing.B) {
		for b.Loop() {
			f, err := os.Open(filepath.Join(dir, rel))
			must(b, err)
			f.Close()
		}
	})
}
