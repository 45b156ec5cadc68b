// Package aiuptime is a k6 extension for load tests of OpenAI-compatible LLM
// endpoints (vLLM, LiteLLM). It measures what plain HTTP cannot see: time to
// first token, inter-token latency, time per output token, truncated or
// stalled streams, and which backend answered.
//
// Scripts import it as
//
//	import { Client } from "k6/x/aiuptime";
//
//	const client = new Client({ baseURL: __ENV.BASE_URL, apiKey: __ENV.API_KEY, model: __ENV.MODEL });
//	export default function () {
//	  const r = client.stream({ messages: [{ role: "user", content: "hi" }], max_tokens: 16 });
//	}
//
// Every request emits samples into the VU's metrics registry, so k6
// thresholds, summaries and outputs see them: the trends aiuptime_ttft,
// aiuptime_itl, aiuptime_tpot and aiuptime_e2e (milliseconds), the counter
// aiuptime_output_tokens, the counter aiuptime_stream_outcome (tagged
// outcome=ok|error|timeout|truncated|stalled) and the rate aiuptime_up. All
// carry the tags model and, when the gateway named it (x-litellm-model-id),
// backend. The builtin http_reqs, http_req_duration and http_req_failed are
// emitted too, with k6's usual system tags, so the scripts' thresholds read
// as in any k6 test.
package aiuptime

import (
	"github.com/grafana/sobek"
	"go.k6.io/k6/js/common"
	"go.k6.io/k6/js/modules"
	"go.k6.io/k6/metrics"

	"github.com/aiuptime/aiuptime/xk6-aiuptime/internal/sse"
)

// ImportPath is the name scripts import the extension by.
const ImportPath = "k6/x/aiuptime"

// Metric names.
const (
	MetricTTFT         = "aiuptime_ttft"
	MetricITL          = "aiuptime_itl"
	MetricTPOT         = "aiuptime_tpot"
	MetricE2E          = "aiuptime_e2e"
	MetricOutputTokens = "aiuptime_output_tokens"
	MetricOutcome      = "aiuptime_stream_outcome"
	MetricUp           = "aiuptime_up"
)

// Outcome names, the values of the outcome tag and of a result's outcome.
const (
	OutcomeOK        = sse.OutcomeOK
	OutcomeError     = sse.OutcomeError
	OutcomeTimeout   = sse.OutcomeTimeout
	OutcomeTruncated = sse.OutcomeTruncated
	OutcomeStalled   = sse.OutcomeStalled
)

// Tag names the extension adds to its samples.
const (
	TagModel   = "model"
	TagBackend = "backend"
	TagOutcome = "outcome"
)

func init() {
	modules.Register(ImportPath, New())
}

// RootModule is the global module object, one per k6 process.
type RootModule struct{}

// ModuleInstance is the module as one VU sees it.
type ModuleInstance struct {
	vu      modules.VU
	metrics *Metrics
}

var (
	_ modules.Module   = (*RootModule)(nil)
	_ modules.Instance = (*ModuleInstance)(nil)
)

// New returns the root module.
func New() *RootModule { return &RootModule{} }

// Metrics are the extension's metrics in one test's registry.
type Metrics struct {
	TTFT, ITL, TPOT, E2E *metrics.Metric
	OutputTokens         *metrics.Metric
	Outcome              *metrics.Metric
	Up                   *metrics.Metric
}

// RegisterMetrics registers (or finds) the extension's metrics in registry.
func RegisterMetrics(registry *metrics.Registry) (*Metrics, error) {
	m := &Metrics{}
	for _, d := range []struct {
		dst  **metrics.Metric
		name string
		typ  metrics.MetricType
		vt   metrics.ValueType
	}{
		{&m.TTFT, MetricTTFT, metrics.Trend, metrics.Time},
		{&m.ITL, MetricITL, metrics.Trend, metrics.Time},
		{&m.TPOT, MetricTPOT, metrics.Trend, metrics.Time},
		{&m.E2E, MetricE2E, metrics.Trend, metrics.Time},
		{&m.OutputTokens, MetricOutputTokens, metrics.Counter, metrics.Default},
		{&m.Outcome, MetricOutcome, metrics.Counter, metrics.Default},
		{&m.Up, MetricUp, metrics.Rate, metrics.Default},
	} {
		mm, err := registry.NewMetric(d.name, d.typ, d.vt)
		if err != nil {
			return nil, err
		}
		*d.dst = mm
	}
	return m, nil
}

// NewModuleInstance is called once per VU, in its init context.
func (*RootModule) NewModuleInstance(vu modules.VU) modules.Instance {
	env := vu.InitEnv()
	if env == nil {
		common.Throw(vu.Runtime(), errInitOnly)
	}
	m, err := RegisterMetrics(env.Registry)
	if err != nil {
		common.Throw(vu.Runtime(), err)
	}
	return &ModuleInstance{vu: vu, metrics: m}
}

// Exports exposes the Client constructor.
func (mi *ModuleInstance) Exports() modules.Exports {
	return modules.Exports{Named: map[string]any{"Client": mi.newClient}}
}

// newClient is the JS constructor `new Client({baseURL, apiKey, model,
// timeout, stallTimeout})`.
func (mi *ModuleInstance) newClient(call sobek.ConstructorCall) *sobek.Object {
	rt := mi.vu.Runtime()
	cfg, err := parseConfig(rt, call.Argument(0))
	if err != nil {
		common.Throw(rt, err)
	}
	c := &Client{vu: mi.vu, metrics: mi.metrics, cfg: cfg}
	return rt.ToValue(c).ToObject(rt)
}
