package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aiuptime/aiuptime/internal/hostile"
)

// Limits every hostile case must stay within: the issue's "within a
// second and under 100 MB". CPU time, not wall time, is bounded: it is
// what the input costs, whatever else the machine is doing.
const (
	hostileMaxRSS = 100 << 20
	hostileMaxCPU = time.Second
)

// TestHostileInputs runs the built drill on every hostile case: each
// exits as it must, says where the problem is, stays within the limits
// and leaves nothing in its report or state directory. With -v it prints
// the table of exit codes, times and memory.
func TestHostileInputs(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds the drill binary")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "drill")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build drill: %v\n%s", err, out)
	}
	dir := t.TempDir()
	if err := hostile.Write(dir); err != nil {
		t.Fatal(err)
	}
	var rs []hostile.Result
	for _, c := range hostile.Cases() {
		r, err := hostile.Run(ctx, bin, dir, c)
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
		if f := r.Failure(); f != "" {
			t.Errorf("%s: %s", c.Name, f)
		}
		if r.MaxRSS > hostileMaxRSS || r.CPU > hostileMaxCPU {
			t.Errorf("%s: %.1f MB, %s CPU: over %d MB or %s", c.Name, float64(r.MaxRSS)/(1<<20), r.CPU, hostileMaxRSS>>20, hostileMaxCPU)
		}
	}
	var b strings.Builder
	if err := hostile.Table(&b, rs); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + b.String())
}
