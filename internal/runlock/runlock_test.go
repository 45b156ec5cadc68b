package runlock

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aiuptime/aiuptime/exitcode"
)

const childEnv = "RUNLOCK_TEST_CHILD_STATE"

// TestMain lets the test binary act as a lock holder in a child process.
func TestMain(m *testing.M) {
	if state := os.Getenv(childEnv); state != "" {
		l, err := Acquire(state, "run-child", Holder{Run: "rchild", Plan: "child-plan", Stack: "embedded run rchild"})
		if err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(3)
		}
		os.Stdout.WriteString("LOCKED\n")
		time.Sleep(time.Minute)
		l.Release()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestSecondHolderRefused(t *testing.T) {
	state := t.TempDir()
	l, err := Acquire(state, "compose-shop", Holder{Run: "d1", Plan: "quarterly-dr", Stack: "compose project shop"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Acquire(state, "compose-shop", Holder{Run: "d2", Plan: "other"})
	var held *HeldError
	if !errors.As(err, &held) || !errors.Is(err, ErrHeld) || exitcode.Of(err, 0) != exitcode.Usage {
		t.Fatalf("second Acquire = %v; want a HeldError with exit 2", err)
	}
	for _, want := range []string{"compose project shop", "pid " + strconv.Itoa(os.Getpid()), "run d1", "plan quarterly-dr", "since "} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q does not name %q", err, want)
		}
	}
	if _, err := Acquire(state, "compose-other", Holder{}); err != nil {
		t.Fatalf("another key is independent: %v", err)
	}
	l.Release()
	l.Release() // idempotent
	l2, err := Acquire(state, "compose-shop", Holder{Run: "d2"})
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	l2.Release()
}

// TestHolderDiesLockFreed: a SIGKILLed holder leaves no stale lock.
func TestHolderDiesLockFreed(t *testing.T) {
	state := t.TempDir()
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), childEnv+"="+state)
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })
	if sc := bufio.NewScanner(out); !sc.Scan() || sc.Text() != "LOCKED" {
		t.Fatalf("child did not lock: %q", sc.Text())
	}
	_, err = Acquire(state, "run-child", Holder{Run: "rparent"})
	var held *HeldError
	if !errors.As(err, &held) || held.Holder.PID != child.Process.Pid || held.Holder.Plan != "child-plan" {
		t.Fatalf("want the child named as holder, got %v", err)
	}
	ls, err := List(state)
	if err != nil || len(ls) != 1 || !ls[0].Held || ls[0].Run != "rchild" {
		t.Fatalf("List while held = %+v, %v", ls, err)
	}
	if runs, _ := HeldRuns(state); runs["rchild"].PID != child.Process.Pid {
		t.Fatalf("HeldRuns = %v", runs)
	}
	_ = child.Process.Kill()
	_ = child.Wait()
	ls, _ = List(state)
	if len(ls) != 1 || ls[0].Held {
		t.Fatalf("List after SIGKILL = %+v: the lock must be free", ls)
	}
	l, err := Acquire(state, "run-child", Holder{Run: "rparent"})
	if err != nil {
		t.Fatalf("lock of a SIGKILLed holder: %v", err)
	}
	l.Release()
}

func TestKeysBecomeSafeFileNames(t *testing.T) {
	state := t.TempDir()
	for _, key := range []string{"run-r1", "selector-app=x,tier=../../etc", "compose-a/b"} {
		f := File(state, key)
		if !strings.HasPrefix(f, Dir(state)+"/") || strings.Count(strings.TrimPrefix(f, Dir(state)+"/"), "/") != 0 {
			t.Errorf("File(%q) = %s escapes %s", key, f, Dir(state))
		}
	}
	if File(state, "a=b") == File(state, "a=c") {
		t.Error("distinct keys share a file")
	}
}

func TestStateDirChecked(t *testing.T) {
	state := t.TempDir()
	if err := os.Chmod(state, 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := Acquire(state, "run-x", Holder{}); err == nil || !strings.Contains(err.Error(), "writable by its group or others") {
		t.Fatalf("Acquire in a world-writable state dir = %v", err)
	}
}

// BenchmarkRefusal measures how long a refused Acquire takes (the second
// drill's wait before it exits 2).
func BenchmarkRefusal(b *testing.B) {
	state := b.TempDir()
	l, err := Acquire(state, "run-bench", Holder{Run: "r1", Plan: "p"})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Release()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Acquire(state, "run-bench", Holder{}); !errors.Is(err, ErrHeld) {
			b.Fatal(err)
		}
	}
}

// BenchmarkAcquireRelease measures an uncontended lock's cost per drill.
func BenchmarkAcquireRelease(b *testing.B) {
	state := b.TempDir()
	for i := 0; i < b.N; i++ {
		l, err := Acquire(state, "run-bench", Holder{Run: "r1"})
		if err != nil {
			b.Fatal(err)
		}
		l.Release()
	}
}
