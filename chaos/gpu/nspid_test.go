package gpu

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestHostPIDInPidNamespace maps pid 1 of a fresh pid namespace to its host pid.
func TestHostPIDInPidNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	cmd := exec.Command("unshare", "--pid", "--fork", "sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Skip(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	var child int
	deadline := time.Now().Add(5 * time.Second)
	for child == 0 {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/task/" + strconv.Itoa(cmd.Process.Pid) + "/children")
		if f := strings.Fields(string(b)); len(f) > 0 {
			child, _ = strconv.Atoi(f[0])
		}
		if time.Now().After(deadline) {
			t.Fatal("no child in the new pid namespace")
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Cleanup(func() { _ = syscallKill(child) })
	got, err := HostPID(child, 1)
	if err != nil || got != child {
		t.Fatalf("HostPID(%d, 1) = %d, %v; want %d", child, got, err, child)
	}
	if _, err := HostPID(child, 4242); err == nil {
		t.Fatal("a pid outside the namespace must not map")
	}
	// Our own pid is not in that namespace: refused even though it exists.
	if _, err := HostPID(child, os.Getpid()); err == nil {
		t.Fatal("a host pid outside the container's namespace must not map")
	}
}
