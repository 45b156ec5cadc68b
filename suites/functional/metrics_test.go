package functional_test

import (
	"bytes"
	"net/http"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// parseMetrics parses Prometheus text with expfmt.
func parseMetrics(body []byte) map[string]*dto.MetricFamily {
	GinkgoHelper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	Expect(err).NotTo(HaveOccurred(), "metrics do not parse")
	return fams
}

// vLLM's documented names (CONVENTIONS.md); counters are exposed as
// <name>_total.
var vllmGauges = []string{"vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc"}
var vllmCounters = []string{"vllm:prompt_tokens", "vllm:generation_tokens", "vllm:num_preemptions",
	"vllm:prefix_cache_queries", "vllm:prefix_cache_hits", "vllm:request_success"}
var vllmHistograms = []string{"vllm:time_to_first_token_seconds", "vllm:inter_token_latency_seconds",
	"vllm:e2e_request_latency_seconds", "vllm:request_queue_time_seconds", "vllm:request_prefill_time_seconds",
	"vllm:request_decode_time_seconds", "vllm:request_prompt_tokens", "vllm:request_generation_tokens"}

var litellmNames = map[string]dto.MetricType{
	"litellm_deployment_state":                   dto.MetricType_GAUGE,
	"litellm_deployment_success_responses":       dto.MetricType_COUNTER,
	"litellm_deployment_total_requests":          dto.MetricType_COUNTER,
	"litellm_proxy_total_requests_metric":        dto.MetricType_COUNTER,
	"litellm_request_total_latency_metric":       dto.MetricType_HISTOGRAM,
	"litellm_llm_api_latency_metric":             dto.MetricType_HISTOGRAM,
	"litellm_llm_api_time_to_first_token_metric": dto.MetricType_HISTOGRAM,
}

// family finds name or name_total (client_golang names counters so).
func family(fams map[string]*dto.MetricFamily, name string) *dto.MetricFamily {
	if f, ok := fams[name]; ok {
		return f
	}
	return fams[name+"_total"]
}

var _ = Describe("metrics", func() {
	It("model servers expose vLLM's names, types and labels", func(ctx SpecContext) {
		for _, m := range env.Models {
			warm(ctx, m)
			warmStream(ctx, m)
			code, body, hdr := getBody(ctx, m.URL+"/metrics")
			Expect(code).To(Equal(http.StatusOK))
			Expect(hdr.Get("Content-Type")).To(HavePrefix("text/plain"))
			fams := parseMetrics(body)
			check := func(names []string, typ dto.MetricType) {
				for _, n := range names {
					f := family(fams, n)
					Expect(f).NotTo(BeNil(), "%s: no %s", m.Name, n)
					Expect(f.GetType()).To(Equal(typ), "%s type", n)
					Expect(f.GetMetric()).NotTo(BeEmpty())
					labels := map[string]string{}
					for _, l := range f.GetMetric()[0].GetLabel() {
						labels[l.GetName()] = l.GetValue()
					}
					Expect(labels).To(HaveKeyWithValue("model_name", env.ModelName), n)
					Expect(labels).To(HaveKey("engine"), n)
				}
			}
			check(vllmGauges, dto.MetricType_GAUGE)
			check(vllmCounters, dto.MetricType_COUNTER)
			check(vllmHistograms, dto.MetricType_HISTOGRAM)
			gen := family(fams, "vllm:generation_tokens")
			var total float64
			for _, s := range gen.GetMetric() {
				total += s.GetCounter().GetValue()
			}
			Expect(total).To(BeNumerically(">", 0), "%s counted no generated tokens after a request", m.Name)
		}
	}, SpecTimeout(time.Minute))

	It("the gateway exposes LiteLLM's names", func(ctx SpecContext) {
		warm(ctx, env.Gateway)
		warmStream(ctx, env.Gateway) // TTFT histograms need a stream
		code, body, _ := getBody(ctx, env.Gateway.URL+"/metrics", "Authorization", "Bearer "+env.Gateway.Key)
		Expect(code).To(Equal(http.StatusOK))
		fams := parseMetrics(body)
		for n, typ := range litellmNames {
			f := family(fams, n)
			Expect(f).NotTo(BeNil(), "no %s", n)
			Expect(f.GetType()).To(Equal(typ), n)
		}
		for _, s := range fams["litellm_deployment_state"].GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == "model_id" {
					Expect(l.GetValue()).To(BeElementOf(modelNames()))
				}
			}
			Expect(s.GetGauge().GetValue()).To(BeNumerically("==", 0), "a deployment is not healthy")
		}
		Expect(strings.Contains(string(body), env.Gateway.Key)).To(BeFalse(), "the master key leaks into /metrics")
	}, SpecTimeout(time.Minute))
})
