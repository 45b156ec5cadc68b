// Package chaostest holds what the tests of the fault kinds share: a
// journal in a temporary state dir, the check that the reverts emptied it,
// a fault planned from a kind's params, and a crash: a child process that
// injects and is SIGKILLed, leaving only its journal to replay.
package chaostest

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aiuptime/aiuptime/chaos"
)

// Journal opens a journal in a fresh temporary state dir.
func Journal(t testing.TB) *chaos.Journal {
	t.Helper()
	j, err := chaos.OpenJournal(chaos.WithStateDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// Deps journal into a fresh temporary state dir, for run "test".
func Deps(t testing.TB) chaos.Deps {
	t.Helper()
	return chaos.Deps{Journal: Journal(t), RunID: "test"}
}

// JournalEmpty fails t unless every record of j was reverted and removed.
func JournalEmpty(t testing.TB, j *chaos.Journal) {
	t.Helper()
	if recs, err := j.List(); err != nil || len(recs) != 0 {
		t.Fatalf("journal not empty after revert: %v %v", recs, err)
	}
}

// Plan decodes params for the registered kind and plans its fault on the
// service target of env.Stack.
func Plan(t testing.TB, env chaos.Env, kind string, params map[string]any, target string) *chaos.Planned {
	t.Helper()
	k, err := chaos.LookupKind(kind)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := k.Decode(params)
	if err != nil {
		t.Fatal(err)
	}
	return chaos.Plan(env, spec, target)
}

// The child process Crash starts finds its state dir and argument here.
const (
	stateEnv = "AIUPTIME_CRASH_STATE"
	argEnv   = "AIUPTIME_CRASH_ARG"
)

// injected is what the child prints once its fault is in place.
const injected = "INJECTED"

// CrashChild is the child's half of Crash; call it first in the test. In
// the child process Crash started it injects the fault mk builds from the
// parent's arg, journaled in the parent's state dir, says so, and waits to
// be killed. Anywhere else it does nothing.
func CrashChild(t *testing.T, mk func(d chaos.Deps, arg string) chaos.Fault) {
	state := os.Getenv(stateEnv)
	if state == "" {
		return
	}
	j, err := chaos.OpenJournal(chaos.WithStateDir(state))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mk(chaos.Deps{Journal: j}, os.Getenv(argEnv)).Inject(t.Context()); err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString(injected + "\n")
	time.Sleep(time.Minute)
	t.Fatal("crash child: not killed within a minute")
}

// Crash runs the calling test again in a child process, whose CrashChild
// injects with arg, and SIGKILLs the child as soon as it has: the fault
// stays in place and only the journal in the returned state dir knows it.
func Crash(t *testing.T, arg string) (stateDir string) {
	t.Helper()
	state := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$")
	cmd.Env = append(os.Environ(), stateEnv+"="+state, argEnv+"="+arg)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	acc := ""
	for !strings.Contains(acc, injected) {
		n, err := out.Read(buf)
		if err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("crash child: %v: %s", err, acc)
		}
		acc += string(buf[:n])
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	return state
}
