// Package safety_test proves the safety envelope of issue 13 against the
// embedded stack, with the real drill binary, real containers and real
// files: a share of a role hurts exactly the replicas it asks for, a disk
// fault never follows a link out of its volume, concurrent drills keep
// their faults apart and `drill cleanup` reverts only the dead one's, no
// output carries a secret, hostile inputs are refused cheaply, crafted or
// corrupt journal records are quarantined, `drill report` writes only its
// own files and a dry run creates nothing.
//
// One embedded stack is shared (started on process #1, attached by its run
// label everywhere): specs that only look at it or fault it through
// `drill fault inject` use it; specs that need a stack of their own let
// their drill start it. Every spec has its own state directory (journal,
// locks, run dirs) and report directory, so specs can run in parallel
// (ginkgo -p) without seeing each other's faults.
package safety_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/client"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/internal/fixturebin"
	"github.com/aiuptime/aiuptime/stack"
	"github.com/aiuptime/aiuptime/stack/docker"
	"github.com/aiuptime/aiuptime/stack/dockerhost"
	"github.com/aiuptime/aiuptime/suites/internal/suitekit"
)

func TestSafety(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Safety Suite", Label("safety"))
}

// setup is what process #1 hands every parallel process.
type setup struct {
	// Drill is the drill CLI built from the checkout; Src the checkout.
	Drill, Src string
	// Run is the run id of the shared embedded stack.
	Run string
}

var (
	// su is the suite's set-up.
	su setup
	// shared is the shared embedded stack, attached by its run label (its
	// Volumes and Lifecycle capabilities are the stack's own view).
	shared *docker.Stack
	// dockerCli observes containers, volumes and events; it never acts.
	dockerCli *client.Client
)

var _ = SynchronizedBeforeSuite(func(ctx SpecContext) []byte {
	h := suitekit.NeedRootDocker(ctx, "the safety suite needs root (docker, network faults, the data volume's loop mount)")
	root, err := fixturebin.ModuleRoot()
	Expect(err).NotTo(HaveOccurred())
	s := setup{Drill: suitekit.BuildDrill(ctx), Src: root}
	s.Run = h.StartStack(ctx, fmt.Sprintf("safety-%d", os.Getpid())).RunID()
	b, err := json.Marshal(s)
	Expect(err).NotTo(HaveOccurred())
	return b
}, func(ctx SpecContext, b []byte) {
	Expect(json.Unmarshal(b, &su)).To(Succeed())
	var err error
	dockerCli, err = dockerhost.Connect(ctx)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(dockerCli.Close)
	shared, err = docker.Attach(ctx, docker.WithSelector(map[string]string{stack.LabelRun: su.Run}))
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func(ctx SpecContext) error { return shared.Stop(ctx) }, NodeTimeout(time.Minute))
}, NodeTimeout(8*time.Minute))

// newStateDir returns a fresh state directory (0700) for one spec's
// drills: their journal, locks and run dirs, apart from every other spec's.
func newStateDir() string {
	GinkgoHelper()
	dir := filepath.Join(GinkgoT().TempDir(), "state")
	Expect(os.Mkdir(dir, 0o700)).To(Succeed())
	return dir
}

// write puts content in a new file under dir and returns its path.
func write(dir, name, content string) string {
	GinkgoHelper()
	p := filepath.Join(dir, name)
	Expect(os.WriteFile(p, []byte(content), 0o644)).To(Succeed())
	return p
}

// syncBuffer is a buffer a running process writes while a spec reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// proc is a drill process a spec started.
type proc struct {
	cmd            *exec.Cmd
	stdout, stderr syncBuffer
	start          time.Time
	done           chan struct{}
	res            result
}

// result is a finished drill invocation.
type result struct {
	code           int
	stdout, stderr string
	took           time.Duration
}

// startDrill starts the drill CLI in dir with its state directory at
// stateDir, the checkout for its fixtures, and env added; it is killed
// when the spec ends if still running.
func startDrill(dir, stateDir string, env []string, args ...string) *proc {
	GinkgoHelper()
	p := &proc{cmd: exec.Command(su.Drill, args...), done: make(chan struct{})}
	p.cmd.Dir = dir
	p.cmd.Env = append(os.Environ(), chaos.StateDirEnv+"="+stateDir, fixturebin.SrcEnv+"="+su.Src)
	p.cmd.Env = append(p.cmd.Env, env...)
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	p.start = time.Now()
	Expect(p.cmd.Start()).To(Succeed())
	go func() {
		defer close(p.done)
		err := p.cmd.Wait()
		p.res = result{code: -1, stdout: p.stdout.String(), stderr: p.stderr.String(), took: time.Since(p.start)}
		var ee *exec.ExitError
		switch {
		case err == nil || errors.As(err, &ee):
			p.res.code = p.cmd.ProcessState.ExitCode()
		default:
			p.res.stderr += "\n" + err.Error()
		}
	}()
	DeferCleanup(func() {
		if p.running() {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// running reports whether the process has not exited yet.
func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// wait waits for the process to exit (or ctx to end) and logs what it said.
func (p *proc) wait(ctx context.Context) result {
	GinkgoHelper()
	select {
	case <-p.done:
	case <-ctx.Done():
		Fail(fmt.Sprintf("drill %v still runs: %v", p.cmd.Args[1:], ctx.Err()))
	}
	GinkgoWriter.Printf("drill %v -> exit %d in %s\nstdout:\n%s\nstderr (tail):\n%s\n", p.cmd.Args[1:], p.res.code,
		p.res.took.Round(time.Millisecond), p.res.stdout, fixturebin.Tail(p.res.stderr, 25))
	return p.res
}

// runDrill runs the drill CLI to its end (see startDrill).
func runDrill(ctx context.Context, dir, stateDir string, env []string, args ...string) result {
	GinkgoHelper()
	return startDrill(dir, stateDir, env, args...).wait(ctx)
}
