// Package chaostest holds what the tests of the fault kinds share: a
// journal in a temporary state dir, the check that the reverts emptied it,
// a fault planned from a kind's params, a crash: a child process that
// injects and is SIGKILLed, leaving only its journal to replay, a replay
// with a fixed proof of ownership, and planted (crafted) records.
package chaostest

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/internal/procfs"
	"github.com/aiuptime/aiuptime/stack"
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

// CrashRun is the run id of the records a crash child journals.
const CrashRun = "crash"

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
	if _, err := mk(chaos.Deps{Journal: j, RunID: CrashRun}, os.Getenv(argEnv)).Inject(t.Context()); err != nil {
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

// Owns is a prover for replays in tests whose targets are no containers
// (scratch namespaces, temporary directories): the owner of any labels
// holds exactly what o lists. The proofs of the Docker prover itself are
// tested in stack/dockerhost against real containers.
type Owns stack.Owned

// Owned implements stack.Prover.
func (o Owns) Owned(context.Context, map[string]string) (stack.Owned, error) {
	return stack.Owned(o), nil
}

// Replay replays the journal of stateDir as `drill cleanup` does, with
// WithProver(o) and any further options.
func Replay(t testing.TB, stateDir string, o Owns, opts ...chaos.Option) (chaos.ReplayResult, error) {
	t.Helper()
	return chaos.Replay(context.Background(), chaos.JournalDir(stateDir), append([]chaos.Option{chaos.WithProver(o)}, opts...)...)
}

// DeadOwner is the identity of a process that has exited: records it
// owns are a crashed drill's.
func DeadOwner(t testing.TB) procfs.Ident {
	t.Helper()
	c := exec.Command("true")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	id, err := procfs.IdentOf(c.Process.Pid) // a zombie until Wait: still readable
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Wait(); err != nil {
		t.Fatal(err)
	}
	return id
}

// Plant writes a record of a crashed drill of run CrashRun into j (a new
// id unless rec has one), its state the JSON of state, as a crafted or
// stale record would be found by `drill cleanup`.
func Plant(t testing.TB, j *chaos.Journal, rec chaos.Record, state any) chaos.Record {
	t.Helper()
	b, err := json.Marshal(state)
	if err != nil {
		t.Fatal(err)
	}
	if rec.ID == "" {
		rec.ID = chaos.NewID()
	}
	if rec.RunID == "" {
		rec.RunID = CrashRun
	}
	if rec.Kind == "" {
		rec.Kind = "planted"
	}
	owner := DeadOwner(t)
	rec.Owner, rec.OwnerStart, rec.OwnerBoot, rec.State = owner.PID, owner.Start, owner.Boot, b
	if err := j.Write(rec); err != nil {
		t.Fatal(err)
	}
	return rec
}

// PlantAndReplay plants one record of a crashed drill in a fresh state
// dir (its id chosen first, so state can be named after it and the state
// dir) and replays it with the proof o.
func PlantAndReplay(t testing.TB, o Owns, rec chaos.Record, state func(id, stateDir string) any) (chaos.ReplayResult, error) {
	t.Helper()
	dir := t.TempDir()
	j, err := chaos.OpenJournal(chaos.WithStateDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	rec.ID = chaos.NewID()
	Plant(t, j, rec, state(rec.ID, dir))
	return Replay(t, dir, o)
}

// WantQuarantined fails t unless a replay quarantined exactly one record,
// for a reason that says reason, and reported it with chaos.ErrQuarantined.
func WantQuarantined(t testing.TB, res chaos.ReplayResult, err error, reason string) {
	t.Helper()
	if !errors.Is(err, chaos.ErrQuarantined) || len(res.Quarantined) != 1 || !strings.Contains(res.Quarantined[0].Reason, reason) {
		t.Fatalf("replay: reverted %d, failed %d, quarantined %+v, err %v; want one record quarantined: %q",
			len(res.Reverted), len(res.Failed), res.Quarantined, err, reason)
	}
}
