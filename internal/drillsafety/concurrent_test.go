package drillsafety

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/aiuptime/aiuptime/internal/fixturebin"
	"github.com/aiuptime/aiuptime/stack/containers"
	"github.com/aiuptime/aiuptime/stack/dockerhost"
)

// logWriter sends the drills' stderr to the test log.
type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// TestTwoDrillsAtOnce runs the scenario with the drill CLI of this
// checkout: both concurrent drills pass, one on the same report directory
// is refused with exit 2, and `drill cleanup` after a SIGKILL removes the
// killed run's faults and stack while the others' stay in force.
func TestTwoDrillsAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: three embedded stacks")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root (network faults, the data volume's loop mount)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cli, err := dockerhost.Connect(ctx)
	if err != nil {
		t.Skipf("docker: %v", err)
	}
	cli.Close()
	root, err := fixturebin.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "drill")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/drill")
	build.Dir, build.Env = root, append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/drill: %v\n%s", err, out)
	}
	start := time.Now()
	o, err := Run(ctx, Config{Drill: bin, StateDir: t.TempDir(), WorkDir: t.TempDir(), Log: logWriter{t}})
	t.Cleanup(func() {
		for _, run := range o.Runs {
			if left, _ := containers.Resources(context.Background(), run); len(left) > 0 {
				_, _ = containers.Down(context.Background(), run)
				t.Errorf("run %s left %d resources", run, len(left))
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("scenario took %s: A %s (exit %d), B %s (exit %d), refused same --out in %s (exit %d), killed run %s, cleanup %s (exit %d)\ncleanup said:\n%s",
		time.Since(start).Round(time.Millisecond), o.A.Took.Round(time.Millisecond), o.A.Code, o.B.Took.Round(time.Millisecond), o.B.Code,
		o.SameOut.Took.Round(time.Millisecond), o.SameOut.Code, o.KilledRun, o.Cleanup.Took.Round(time.Millisecond), o.Cleanup.Code, o.Cleanup.Stdout)
	if err := o.Check(); err != nil {
		t.Fatal(err)
	}
}
