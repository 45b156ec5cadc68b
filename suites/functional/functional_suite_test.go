// Package functional_test checks the embedded stack on the wire, through
// the gateway and against each model server, with the official OpenAI Go
// client: models, chat, streaming with usage, error envelopes, health
// endpoints, metric names, x-litellm headers and the golden prompt; and
// that `drill stack up --json` / `drill stack down` work and leave nothing.
//
// One stack per suite run (SynchronizedBeforeSuite): process 1 starts it
// and shares its endpoints; process 1 removes it at the end.
package functional_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/aiuptime/aiuptime/stack"
	"github.com/aiuptime/aiuptime/stack/containers"
)

func TestFunctional(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Functional Suite", Label("functional"))
}

// target is one endpoint the specs talk to.
type target struct {
	Name string     `json:"name"`
	Role stack.Role `json:"role"`
	URL  string     `json:"url"`
	// Key is the key this target checks (the gateway master key, or the
	// model servers' key).
	Key string `json:"key"`
}

// shared is what process 1 hands to every process.
type shared struct {
	RunID     string   `json:"run_id"`
	ModelName string   `json:"model_name"`
	Gateway   target   `json:"gateway"`
	Models    []target `json:"models"`
}

var (
	env   shared
	owned *containers.Stack // process 1 only
	hc    = &http.Client{Timeout: 30 * time.Second}
)

var _ = SynchronizedBeforeSuite(func(ctx SpecContext) []byte {
	if _, err := containers.Resources(ctx, "none"); err != nil {
		Fail("the functional suite needs Docker: " + err.Error())
	}
	log := slog.New(slog.NewTextHandler(GinkgoWriter, &slog.HandlerOptions{Level: slog.LevelInfo}))
	var err error
	owned, err = containers.Start(ctx,
		containers.WithLogger(log),
		containers.WithRunID(fmt.Sprintf("fn%d", time.Now().UnixNano()%100000000)),
		containers.WithModelSize(2<<20),
		// Model servers check a key too, so the bad-key spec means something there.
		containers.WithModelAPIKey(fmt.Sprintf("sk-model-%d", GinkgoRandomSeed()^time.Now().UnixNano())),
	)
	if owned != nil {
		DeferCleanup(func(ctx SpecContext) {
			Expect(owned.Stop(ctx)).To(Succeed())
		}, NodeTimeout(3*time.Minute))
	}
	Expect(err).NotTo(HaveOccurred())
	t := owned.Timings()
	AddReportEntry("stack start", ReportEntryVisibilityFailureOrVerbose,
		map[string]any{"images": t.Images.String(), "built": t.Built, "models": t.Models.String(), "services": t.Services.String(), "total": t.Total.String()})
	AddReportEntry("setup", owned.Setup())

	sh := shared{RunID: owned.RunID(), ModelName: owned.ModelName()}
	svcs, err := owned.Services(ctx)
	Expect(err).NotTo(HaveOccurred())
	for _, s := range svcs {
		switch s.Role {
		case stack.RoleGateway:
			sh.Gateway = target{Name: s.Name, Role: s.Role, URL: s.URL, Key: owned.APIKey()}
		case stack.RoleModel:
			sh.Models = append(sh.Models, target{Name: s.Name, Role: s.Role, URL: s.URL, Key: owned.ModelAPIKey()})
		}
	}
	b, err := json.Marshal(sh)
	Expect(err).NotTo(HaveOccurred())
	return b
}, func(b []byte) {
	Expect(json.Unmarshal(b, &env)).To(Succeed())
	Expect(env.Gateway.URL).NotTo(BeEmpty())
	Expect(env.Models).To(HaveLen(containers.DefaultReplicas))
}, NodeTimeout(10*time.Minute))

// targets is the gateway and every model server.
func targets() []target { return append([]target{env.Gateway}, env.Models...) }

func getBody(ctx context.Context, url string, header ...string) (int, []byte, http.Header) {
	GinkgoHelper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	Expect(err).NotTo(HaveOccurred())
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := hc.Do(req)
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	var buf []byte
	buf, err = readAll(resp)
	Expect(err).NotTo(HaveOccurred())
	return resp.StatusCode, buf, resp.Header
}
