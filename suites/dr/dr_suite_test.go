// Package dr_test proves updates and disaster recovery on the embedded
// stack (stack/containers) while a probe runs through the gateway: rolling
// update with zero failed requests, blue-green switch and rollback, canaries
// with a bad and a good release, model volume loss and gateway database loss
// restored from a checksummed backup with measured RTO and RPO, and the bad
// inputs (missing image, corrupt backup) that must leave the stack untouched.
package dr_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/drill"
	"github.com/aiuptime/aiuptime/probe"
	"github.com/aiuptime/aiuptime/rollout"
	"github.com/aiuptime/aiuptime/stack"
	"github.com/aiuptime/aiuptime/stack/containers"
	"github.com/aiuptime/aiuptime/suites/internal/suitekit"
)

func TestDR(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "DR Suite", Label("dr"))
}

var (
	st       *containers.Stack
	traffic  *drill.TrafficLog
	log      *slog.Logger
	stateDir string
	gw       stack.Service
	journal  *chaos.Journal
)

func trafficFunc(from, to time.Time, backend string) rollout.Stats {
	s := traffic.Stats(from, to, backend, backend == "")
	return rollout.Stats{Total: s.Total, Failed: s.Failed, ErrorRate: s.ErrorRate, P50: s.P50, P95: s.P95}
}

func newRollouter(ctx context.Context) *rollout.Rollouter {
	GinkgoHelper()
	r, err := rollout.New(ctx, st, rollout.WithLogger(log), rollout.WithTraffic(trafficFunc))
	Expect(err).NotTo(HaveOccurred())
	return r
}

var _ = BeforeSuite(func(ctx SpecContext) {
	h := suitekit.NeedRootDocker(ctx, "the dr suite needs root (docker, loop-mounted data volume)")
	log, stateDir, journal = h.Log, h.StateDir, h.Journal
	st = h.StartStack(ctx, fmt.Sprintf("dr-%d", os.Getpid()))
	var err error
	gw, err = st.Service(ctx, containers.ServiceGateway)
	Expect(err).NotTo(HaveOccurred())

	// One probe through the gateway for the whole suite (bounded: 10 min).
	traffic = drill.NewTrafficLog(0)
	p, err := probe.New(gw.URL, probe.WithAPIKey(st.APIKey()), probe.WithMode(probe.ModeChat), probe.WithInterval(50*time.Millisecond),
		probe.WithMaxTokens(16), probe.WithTimeout(5*time.Second), probe.WithDuration(10*time.Minute), probe.WithModel(st.ModelName()))
	Expect(err).NotTo(HaveOccurred())
	pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	res, err := p.Start(pctx)
	Expect(err).NotTo(HaveOccurred())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for r := range res {
			traffic.Add(r)
		}
	}()
	DeferCleanup(func() { p.Stop(); cancel(); <-done })
}, NodeTimeout(5*time.Minute))
