package local

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/aiuptime/aiuptime/internal/procfs"
	"github.com/aiuptime/aiuptime/internal/proctest"
)

// TestPauseELFBlocks runs the sandbox image's program: it must start
// (the kernel accepts the hand-made ELF) and block until killed.
func TestPauseELFBlocks(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("the pause program exists for amd64 only")
	}
	elf, err := pauseELF()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "pause")
	if err := os.WriteFile(path, elf, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path)
	if err := cmd.Start(); err != nil {
		t.Fatalf("exec the pause program: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	proctest.Poll(t, 10*time.Second, "the pause program sleeping in pause(2)", func() error {
		select {
		case err := <-done:
			t.Fatalf("pause program exited: %v", err)
		default:
		}
		if st, err := procfs.State(cmd.Process.Pid); err != nil || st != "S" {
			return fmt.Errorf("state %q (%v)", st, err)
		}
		return nil
	})
	_ = cmd.Process.Kill()
	<-done
}
