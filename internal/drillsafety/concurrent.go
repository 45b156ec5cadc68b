// Package drillsafety drives real `drill` processes through the scenarios
// that prove drills can share a host: two drills at once on one host (what
// two `make drill` on one CI runner do), a third refused because it would
// write the first one's report directory, and a fourth SIGKILLed mid-fault
// whose leftovers `drill cleanup` removes while the others' faults stay in
// force. It reports what it observed (Outcome) and what of that breaks the
// decided outcome (Outcome.Check). The Ginkgo suite suites/safety runs it
// (label safety, in `make test`): three embedded stacks, about a minute.
//
// The decided outcome: two drills at once both pass. Each embedded stack
// has its own run id, run dir, network, volumes, ports, loop device and
// fault names; the state directory is shared safely (journal records,
// locks, snapshots and backups are per record or per run; the journal key
// is made once, atomically). Only a shared report directory would mix two
// drills' files: a drill holds a lock on its --out directory, so a second
// drill with the same --out is refused with exit 2 before anything starts.
package drillsafety

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/internal/runlock"
	"github.com/aiuptime/aiuptime/stack/containers"
)

// PlanName is the name of the plan the scenario runs.
const PlanName = "concurrent-drills"

// Plan is a short plan: a steady state, then a latency fault on model-0
// held long enough for every drill of the scenario to have it in force at
// once, then a steady state.
const Plan = `name: ` + PlanName + `
description: two drills on one host; a latency fault held while another drill is killed and cleaned up
stack: embedded
slo:
  availability: 90.0
  latency_p95: 5s
  error_rate: 10%
probe: {interval: 100ms, mode: chat, target: gateway, timeout: 5s, max_tokens: 8}
steps:
  - name: steady state
    wait: 3s
  - name: latency on model-0
    fault: network-delay
    target: model-0
    params: {delay: 50ms}
    duration: 40s
  - name: steady state after
    wait: 2s
`

// Config says where the scenario runs.
type Config struct {
	// Drill is the drill binary.
	Drill string
	// StateDir is the state directory every drill shares.
	StateDir string
	// WorkDir holds the plan and the report directories.
	WorkDir string
	// Log receives the drills' stderr (nil: discarded).
	Log io.Writer
}

// Result is one drill process: its arguments, exit code, output and time.
type Result struct {
	Args   []string
	Code   int
	Stdout string
	Stderr string
	Took   time.Duration
}

// Outcome is what the scenario observed.
type Outcome struct {
	// A and B ran at once, each with its own report directory.
	A, B Result
	// SameOut was started with A's report directory while A ran.
	SameOut Result
	// Killed was SIGKILLed with its fault in force; KilledRun is its run.
	Killed    Result
	KilledRun string
	// Cleanup ran while A's and B's faults were in force.
	Cleanup Result
	// LiveAfterCleanup are the runs with records in the journal right
	// after the cleanup; KilledLeft is what was left of the killed run's
	// stack after it.
	LiveAfterCleanup []string
	KilledLeft       []containers.Resource
	// JournalAfter is what the journal held after A and B ended.
	JournalAfter []chaos.Record
	// Runs are the run ids of A, B and the killed drill (to remove what a
	// failed scenario leaves).
	Runs []string
}

// Run runs the scenario: A, B and the one to kill start at once; SameOut is
// started once A holds its report directory; when all three faults are in
// force the third is SIGKILLed and `drill cleanup` runs; then A and B are
// waited for.
func Run(ctx context.Context, cfg Config) (Outcome, error) {
	var o Outcome
	plan := filepath.Join(cfg.WorkDir, PlanName+".yaml")
	if err := os.WriteFile(plan, []byte(Plan), 0o600); err != nil {
		return o, err
	}
	out := func(name string) string { return filepath.Join(cfg.WorkDir, "out-"+name) }
	a, err := cfg.start(ctx, "run", plan, "--out", out("a"), "--progress", "never")
	if err != nil {
		return o, err
	}
	b, err := cfg.start(ctx, "run", plan, "--out", out("b"), "--progress", "never")
	if err != nil {
		return o, errors.Join(err, a.kill())
	}
	k, err := cfg.start(ctx, "run", plan, "--out", out("k"), "--progress", "never")
	if err != nil {
		return o, errors.Join(err, a.kill(), b.kill())
	}
	o, err = cfg.middle(ctx, a, b, k, plan, out("a"))
	if err != nil {
		return o, errors.Join(err, a.kill(), b.kill(), k.kill())
	}
	o.A, o.B = a.wait(), b.wait()
	o.JournalAfter, _ = chaos.ListRecords(chaos.JournalDir(cfg.StateDir))
	return o, nil
}

// middle is the scenario while A, B and K run.
func (cfg Config) middle(ctx context.Context, a, b, k *proc, plan, outA string) (Outcome, error) {
	var o Outcome
	if err := poll(ctx, 2*time.Minute, func() bool { return outLockHeld(cfg.StateDir) }); err != nil {
		return o, fmt.Errorf("drill A never locked its report directory: %w", err)
	}
	same, err := cfg.start(ctx, "run", plan, "--out", outA, "--progress", "never")
	if err != nil {
		return o, err
	}
	o.SameOut = same.wait()
	var recs map[int]chaos.Record
	err = poll(ctx, 5*time.Minute, func() bool {
		recs = recordsByOwner(cfg.StateDir)
		_, okA := recs[a.pid()]
		_, okB := recs[b.pid()]
		_, okK := recs[k.pid()]
		return okA && okB && okK
	})
	if err != nil {
		return o, fmt.Errorf("the three drills never had their faults in force at once (records by pid %v): %w", keys(recs), err)
	}
	o.KilledRun = recs[k.pid()].RunID
	o.Runs = []string{recs[a.pid()].RunID, recs[b.pid()].RunID, o.KilledRun}
	o.Killed = k.sigkill()
	cleanup, err := cfg.start(ctx, "cleanup")
	if err != nil {
		return o, err
	}
	o.Cleanup = cleanup.wait()
	for _, r := range recordsByOwner(cfg.StateDir) {
		o.LiveAfterCleanup = append(o.LiveAfterCleanup, r.RunID)
	}
	o.KilledLeft, err = containers.Resources(ctx, o.KilledRun)
	return o, err
}

// Check returns what in o breaks the decided outcome (nil: none).
func (o Outcome) Check() error {
	var errs []error
	for name, r := range map[string]Result{"A": o.A, "B": o.B} {
		if r.Code != 0 {
			errs = append(errs, fmt.Errorf("drill %s exited %d, want 0 (both concurrent drills pass):\n%s", name, r.Code, tail(r.Stderr)))
		}
	}
	if o.SameOut.Code != 2 || !strings.Contains(o.SameOut.Stderr, "plan "+PlanName) || !strings.Contains(o.SameOut.Stderr, "report directory") {
		errs = append(errs, fmt.Errorf("a drill on A's report directory exited %d, want 2 naming A's plan and the directory:\n%s", o.SameOut.Code, tail(o.SameOut.Stderr)))
	}
	if o.SameOut.Took > 10*time.Second {
		errs = append(errs, fmt.Errorf("the refusal took %s: it must come before anything starts", o.SameOut.Took))
	}
	if o.Cleanup.Code != 0 || !strings.Contains(o.Cleanup.Stdout, "removed stack run "+o.KilledRun) {
		errs = append(errs, fmt.Errorf("cleanup exited %d, want 0 and the killed run %s's stack removed:\n%s%s", o.Cleanup.Code, o.KilledRun, o.Cleanup.Stdout, tail(o.Cleanup.Stderr)))
	}
	if strings.Count(o.Cleanup.Stdout, "left alone") != 2 {
		errs = append(errs, fmt.Errorf("cleanup must leave the two live drills' faults alone:\n%s", o.Cleanup.Stdout))
	}
	if len(o.LiveAfterCleanup) != 2 {
		errs = append(errs, fmt.Errorf("after cleanup the journal holds faults of runs %v, want the two live drills'", o.LiveAfterCleanup))
	}
	for _, r := range o.LiveAfterCleanup {
		if r == o.KilledRun {
			errs = append(errs, fmt.Errorf("the killed run %s's fault is still journaled after cleanup", r))
		}
	}
	if len(o.KilledLeft) != 0 {
		errs = append(errs, fmt.Errorf("the killed run %s left %v after cleanup", o.KilledRun, o.KilledLeft))
	}
	if len(o.JournalAfter) != 0 {
		errs = append(errs, fmt.Errorf("records left after both drills ended: %v", o.JournalAfter))
	}
	return errors.Join(errs...)
}

// outLockHeld reports whether a drill holds a report directory's lock.
func outLockHeld(stateDir string) bool {
	ls, _ := runlock.List(stateDir)
	for _, l := range ls {
		if l.Held && strings.HasPrefix(l.Key, "out-") {
			return true
		}
	}
	return false
}

func recordsByOwner(stateDir string) map[int]chaos.Record {
	recs, _ := chaos.ListRecords(chaos.JournalDir(stateDir))
	out := map[int]chaos.Record{}
	for _, r := range recs {
		out[r.Owner] = r
	}
	return out
}

func keys(m map[int]chaos.Record) []int {
	var out []int
	for k := range m {
		out = append(out, k)
	}
	return out
}

// poll checks cond every 100 ms until it holds or within has passed.
func poll(ctx context.Context, within time.Duration, cond func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

func tail(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return strings.Join(lines, "\n")
}

// proc is a started drill process.
type proc struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	start          time.Time
}

func (cfg Config) start(ctx context.Context, args ...string) (*proc, error) {
	p := &proc{cmd: exec.CommandContext(ctx, cfg.Drill, args...), start: time.Now()}
	p.cmd.Env = append(os.Environ(), chaos.StateDirEnv+"="+cfg.StateDir)
	p.cmd.Stdout = &p.stdout
	p.cmd.Stderr = &p.stderr
	if cfg.Log != nil {
		p.cmd.Stderr = io.MultiWriter(&p.stderr, cfg.Log)
	}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start drill %s: %w", strings.Join(args, " "), err)
	}
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) wait() Result {
	err := p.cmd.Wait()
	r := Result{Args: p.cmd.Args, Stdout: p.stdout.String(), Stderr: p.stderr.String(), Took: time.Since(p.start)}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.Code = ee.ExitCode()
	case err != nil:
		r.Code = -1
		r.Stderr += "\n" + err.Error()
	}
	return r
}

// sigkill kills the drill as a crash would: no revert, no stack removal.
func (p *proc) sigkill() Result {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	return p.wait()
}

// kill stops a drill of a scenario that failed (SIGTERM: it reverts).
func (p *proc) kill() error {
	if p == nil || p.cmd.ProcessState != nil {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	r := p.wait()
	if r.Code != 0 && r.Code != 5 {
		return fmt.Errorf("drill %v exited %d after SIGTERM", r.Args, r.Code)
	}
	return nil
}
