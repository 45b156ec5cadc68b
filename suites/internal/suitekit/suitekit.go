// Package suitekit is the set-up the Ginkgo suites under suites/ share: a
// logger on GinkgoWriter, the drill CLI built from the source checkout, and
// the embedded stack for the suites that need root and Docker.
//
// Its functions are for setup nodes (BeforeSuite, BeforeAll): they fail or
// skip the node through Gomega and Ginkgo, and register their clean-ups with
// DeferCleanup.
package suitekit

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/internal/fixturebin"
	"github.com/aiuptime/aiuptime/stack/containers"
	"github.com/aiuptime/aiuptime/stack/dockerhost"
)

// Logger logs at info level to GinkgoWriter (shown for failed specs or
// with -v).
func Logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(ginkgo.GinkgoWriter, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// BuildDrill builds the drill CLI of the source checkout into a temporary
// directory and returns its path.
func BuildDrill(ctx context.Context) string {
	ginkgo.GinkgoHelper()
	root, err := fixturebin.ModuleRoot()
	gomega.Expect(err).NotTo(gomega.HaveOccurred())
	bin := filepath.Join(ginkgo.GinkgoT().TempDir(), "drill")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/drill")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	gomega.Expect(err).NotTo(gomega.HaveOccurred(), "go build ./cmd/drill: %s", out)
	return bin
}

// Host is what a suite on the embedded stack holds beside the stack: its
// logger, its state directory and the revert journal in it.
type Host struct {
	Log      *slog.Logger
	StateDir string
	Journal  *chaos.Journal
}

// NeedRootDocker skips the suite unless it runs as root with Docker
// reachable (needRoot says what root is for), then returns a Host with a
// fresh state directory and its revert journal.
func NeedRootDocker(ctx context.Context, needRoot string) Host {
	ginkgo.GinkgoHelper()
	if os.Geteuid() != 0 {
		ginkgo.Skip(needRoot)
	}
	h := Host{Log: Logger()}
	cli, err := dockerhost.Connect(ctx)
	if err != nil {
		ginkgo.Skip("docker unavailable: " + err.Error())
	}
	cli.Close()
	h.StateDir = ginkgo.GinkgoT().TempDir()
	h.Journal, err = chaos.OpenJournal(chaos.WithStateDir(h.StateDir), chaos.WithLogger(h.Log))
	gomega.Expect(err).NotTo(gomega.HaveOccurred())
	return h
}

// StartStack starts the embedded stack for run runID with two model
// replicas and a 32 MiB gateway data volume, its run state under the
// host's state directory, and more options after these; the stack is
// stopped when the suite ends, also after a failed start.
func (h Host) StartStack(ctx context.Context, runID string, opts ...containers.Option) *containers.Stack {
	ginkgo.GinkgoHelper()
	opts = append([]containers.Option{containers.WithRunID(runID), containers.WithLogger(h.Log),
		containers.WithReplicas(2), containers.WithDataVolumeSize(32 << 20),
		containers.WithStateDir(filepath.Join(h.StateDir, "runs"))}, opts...)
	st, err := containers.Start(ctx, opts...)
	ginkgo.DeferCleanup(func(ctx context.Context) {
		if st != nil {
			gomega.Expect(st.Stop(context.WithoutCancel(ctx))).To(gomega.Succeed())
		}
	}, ginkgo.NodeTimeout(2*time.Minute))
	gomega.Expect(err).NotTo(gomega.HaveOccurred())
	return st
}

// Run is one finished drill invocation.
type Run struct {
	Code           int
	Stdout, Stderr string
}

// Drill runs the drill CLI at bin with args from the module root, with
// extra environment on top of the test's; its output goes to GinkgoWriter
// (tails) and into the returned Run. A CLI that could not start fails the
// node.
func Drill(ctx context.Context, bin string, env []string, args ...string) Run {
	ginkgo.GinkgoHelper()
	root, err := fixturebin.ModuleRoot()
	gomega.Expect(err).NotTo(gomega.HaveOccurred())
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...)
	var so, se strings.Builder
	cmd.Stdout, cmd.Stderr = &so, &se
	err = cmd.Run()
	r := Run{Stdout: so.String(), Stderr: se.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.Code = ee.ExitCode()
	} else {
		gomega.Expect(err).NotTo(gomega.HaveOccurred())
	}
	ginkgo.GinkgoWriter.Printf("drill %v -> %d\nstdout:\n%s\nstderr (tail):\n%s\n", args, r.Code,
		fixturebin.Tail(r.Stdout, 60), fixturebin.Tail(r.Stderr, 40))
	return r
}
