// Package drillrun_test runs the drill CLI end to end, as an engineer or CI
// would: real plans against the embedded stack, real signals, the reports
// it writes, the exit codes of the contract, and what it leaves behind.
package drillrun_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/aiuptime/aiuptime/internal/fixturebin"
	"github.com/aiuptime/aiuptime/suites/internal/suitekit"
)

func TestDrillRun(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Drill Run Suite", Label("drill"))
}

// drillBin is the drill CLI under test, built once per suite.
var drillBin string

var _ = BeforeSuite(func(ctx SpecContext) { drillBin = suitekit.BuildDrill(ctx) }, NodeTimeout(5*time.Minute))

// moduleRoot is the source checkout the suite builds and runs from.
func moduleRoot() (string, error) { return fixturebin.ModuleRoot() }

// run is one finished drill invocation.
type run struct {
	code           int
	stdout, stderr string
}

// drill runs the CLI with args and extra environment, from the module root.
func drill(ctx context.Context, env []string, args ...string) run {
	GinkgoHelper()
	root, err := moduleRoot()
	Expect(err).NotTo(HaveOccurred())
	cmd := exec.CommandContext(ctx, drillBin, args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...)
	var so, se strings.Builder
	cmd.Stdout, cmd.Stderr = &so, &se
	err = cmd.Run()
	r := run{stdout: so.String(), stderr: se.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else {
		Expect(err).NotTo(HaveOccurred())
	}
	GinkgoWriter.Printf("drill %v -> %d\nstdout:\n%s\nstderr (tail):\n%s\n", args, r.code, r.stdout, fixturebin.Tail(r.stderr, 40))
	return r
}

// labelled counts Docker containers, networks and volumes carrying the
// aiuptime.run label (optionally of one run).
func labelled(ctx context.Context, runID string) int {
	GinkgoHelper()
	filter := "label=aiuptime.run"
	if runID != "" {
		filter += "=" + runID
	}
	n := 0
	for _, what := range [][]string{{"ps", "-aq"}, {"network", "ls", "-q"}, {"volume", "ls", "-q"}} {
		args := append(append([]string{}, what...), "--filter", filter)
		out, err := exec.CommandContext(ctx, "docker", args...).Output()
		Expect(err).NotTo(HaveOccurred())
		n += len(strings.Fields(string(out)))
	}
	return n
}
