package safety_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/redact/redacttest"
	"github.com/aiuptime/aiuptime/reports"
)

// canaries are secrets planted in every place a plan, a stack file or the
// drill's environment can hold one.
type canaries struct {
	urlPassword, query, bearer, sk, envToken, keyEnv, hfToken, k6Token string
}

func newCanaries() canaries {
	return canaries{
		urlPassword: "cnry-url-pw-13a1", query: "cnry-query-13a2", bearer: "cnry-bearer-13a3",
		sk: "sk-cnry13a4abcdefghijklmnop", envToken: "cnry-env-value-13a5", keyEnv: "cnry-gateway-key-13a6",
		hfToken: "cnry-hf-token-13a7", k6Token: "cnry-k6-token-13a8",
	}
}

func (c canaries) all() []string {
	return []string{c.urlPassword, c.query, c.bearer, c.sk, c.envToken, c.keyEnv, c.hfToken, c.k6Token}
}

// environ is the drill's environment: a secret-named variable, and the
// one the stack file's api_key_env names.
func (c canaries) environ() []string {
	return []string{"MY_SERVICE_TOKEN=" + c.envToken, "GW_CREDENTIAL_VAR=" + c.keyEnv}
}

// stackFile holds canaries in the model servers' environment: a
// secret-named variable, a URL with userinfo and ?key=, a Bearer header
// and an sk- key; and names api_key_env.
func (c canaries) stackFile() string {
	return `kind: containers
replicas: 2
api_key_env: GW_CREDENTIAL_VAR
model: {size: 2MiB}
services:
  model:
    env:
      HF_TOKEN: ` + c.hfToken + `
      UPSTREAM_URL: "http://admin:` + c.urlPassword + `@mirror.invalid/models?key=` + c.query + `"
      AUTH_HEADER: "Bearer ` + c.bearer + `"
      OPENAI_API_KEY: ` + c.sk + `
`
}

// plan holds canaries in its description (URL userinfo, ?key=, Bearer,
// sk-), a step name (the secret environment value) and the k6
// environment; its container-remove journals model-1's environment.
func (c canaries) plan(k6Script string) string {
	return `name: canary
description: "calls https://admin:` + c.urlPassword + `@mirror.invalid/?key=` + c.query + ` with Authorization: Bearer ` + c.bearer + ` and ` + c.sk + `"
stack: stack.yaml
slo: {availability: 50}
probe: {interval: 100ms, mode: chat, timeout: 5s}
load:
  k6: ` + k6Script + `
  env: {RATE: "3", DURATION: "8s", API_TOKEN: ` + c.k6Token + `, MIRROR: "http://u:` + c.urlPassword + `@mirror.invalid/?token=` + c.query + `"}
steps:
  - name: steady ` + c.envToken + `
    wait: 2s
  - name: remove model-1
    fault: container-remove
    target: model-1
    duration: 4s
  - name: model-1 back
    await: healthy
    target: model-1
    timeout: 60s
`
}

// masterKey matches the gateway key in the gateway's config.
var masterKey = regexp.MustCompile(`master_key:\s*"?([^"\s]+)`)

// except drops the leaks in file.
func except(leaks []redacttest.Leak, file string) []redacttest.Leak {
	var out []redacttest.Leak
	for _, l := range leaks {
		if l.Path != file {
			out = append(out, l)
		}
	}
	return out
}

var _ = Describe("secrets", Label("secrets"), func() {
	It("writes no planted canary into any file or log line of a real drill on the embedded stack", func(ctx SpecContext) {
		c := newCanaries()
		dir := GinkgoT().TempDir()
		state := newStateDir()
		write(dir, "stack.yaml", c.stackFile())
		plan := write(dir, "plan.yaml", c.plan(filepath.Join(su.Src, "xk6-aiuptime", "scripts", "load.js")))
		out := filepath.Join(dir, "out")
		p := startDrill(dir, state, c.environ(), "-v", "run", plan, "--out", out, "--progress", "never")

		By("reading the gateway key from the gateway's own config, the one file that must hold it")
		var gwConfig, key string
		Eventually(ctx, func(g Gomega) {
			m, _ := filepath.Glob(filepath.Join(runsDir(state), "*", "gateway.yaml"))
			g.Expect(m).To(HaveLen(1))
			b, err := os.ReadFile(m[0])
			g.Expect(err).NotTo(HaveOccurred())
			k := masterKey.FindStringSubmatch(string(b))
			g.Expect(k).NotTo(BeNil())
			gwConfig, key = m[0], k[1]
		}).WithTimeout(3 * time.Minute).WithPolling(100 * time.Millisecond).Should(Succeed())
		all := append(c.all(), key)
		Eventually(ctx, func() ([]string, error) { return containerEnv(ctx, state, "model-0") }).
			WithTimeout(2*time.Minute).WithPolling(200*time.Millisecond).Should(ContainElement("HF_TOKEN="+c.hfToken),
			"the stack file's environment reached the model servers")

		By("scanning the state directory while the journal holds model-1's container, environment included")
		var rec chaos.Record
		Eventually(ctx, func(g Gomega) {
			recs, err := chaos.ListRecords(chaos.JournalDir(state))
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(recs).To(ContainElement(HaveField("Kind", "container-remove"), &rec))
		}).WithTimeout(2 * time.Minute).WithPolling(50 * time.Millisecond).Should(Succeed())
		Expect(rec.Sealed).To(BeTrue(), "the journaled container environment is sealed")
		leaks, err := redacttest.ScanFiles([]string{state}, all...)
		Expect(err).NotTo(HaveOccurred())
		Expect(except(leaks, gwConfig)).To(BeEmpty(), "secrets in the state directory during the fault:\n%s", redacttest.Report(leaks))

		r := p.wait(ctx)
		Expect(r.code).To(BeElementOf(0, 1), "the drill ran to its end")

		By("scanning every file the run left and every line it printed")
		files, err := redacttest.Files(out, state)
		Expect(err).NotTo(HaveOccurred())
		leaks, err = redacttest.ScanFiles([]string{out, state}, all...)
		Expect(err).NotTo(HaveOccurred())
		leaks = append(leaks, redacttest.ScanText("stdout", r.stdout, all...)...)
		leaks = append(leaks, redacttest.ScanText("stderr (-v)", r.stderr, all...)...)
		Expect(except(leaks, gwConfig)).To(BeEmpty(), "secrets leaked:\n%s", redacttest.Report(leaks))

		By("checking that the canaries' places are in the outputs, so the scan proved something")
		rep, err := reports.Load(out)
		Expect(err).NotTo(HaveOccurred())
		Expect(rep.K6).NotTo(BeNil(), "k6 ran with the plan's environment")
		Expect(rep.Description).To(Equal("calls https://admin:[REDACTED]@mirror.invalid/?key=[REDACTED] with Authorization: Bearer [REDACTED] and [REDACTED]"))
		Expect(r.stderr).To(ContainSubstring("level=DEBUG"), "-v logs at debug")
		Expect(r.stderr).To(ContainSubstring("steady [REDACTED]"))
		AddReportEntry("secrets", map[string]any{"canaries": len(all), "files_scanned": len(files), "stderr_lines": strings.Count(r.stderr, "\n"),
			"drill_s": r.took.Seconds(), "verdict": rep.Verdict})
	}, SpecTimeout(6*time.Minute))
})
