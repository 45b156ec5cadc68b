package recovery

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// DeploymentStateMetric is LiteLLM's gauge of a deployment's health: 0
// healthy (its last request succeeded), 1 partial outage, 2 cooling down.
const DeploymentStateMetric = "litellm_deployment_state"

// maxMetricsBytes bounds the /metrics page read.
const maxMetricsBytes = 16 << 20

// ParseDeploymentStates reads litellm_deployment_state by model_id from a
// Prometheus text page (the worst state when a model_id appears twice). ok
// is false when the page has no such metric.
func ParseDeploymentStates(r io.Reader) (states map[string]float64, ok bool, err error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(io.LimitReader(r, maxMetricsBytes))
	if err != nil {
		return nil, false, fmt.Errorf("parse metrics: %w", err)
	}
	fam, ok := fams[DeploymentStateMetric]
	if !ok {
		return nil, false, nil
	}
	states = map[string]float64{}
	for _, m := range fam.GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "model_id" && m.GetGauge() != nil {
				states[l.GetValue()] = max(states[l.GetValue()], m.GetGauge().GetValue())
			}
		}
	}
	return states, true, nil
}

// ReadDeploymentStates GETs a gateway's /metrics (with key as bearer, if
// any) and parses its deployment states; ok is false when the gateway does
// not expose them.
func ReadDeploymentStates(ctx context.Context, hc *http.Client, gatewayURL, key string) (map[string]float64, bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, gatewayURL+"/metrics", nil)
	if err != nil {
		return nil, false, fmt.Errorf("gateway metrics: %w", err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, false, fmt.Errorf("gateway metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil, false, fmt.Errorf("gateway metrics: %s", resp.Status)
	}
	return ParseDeploymentStates(resp.Body)
}

// GatewayRotation is the RotationFunc of the deployment modelID behind the
// gateway at gatewayURL.
func GatewayRotation(hc *http.Client, gatewayURL, key, modelID string) RotationFunc {
	return func(ctx context.Context) (float64, bool) {
		states, ok, err := ReadDeploymentStates(ctx, hc, gatewayURL, key)
		if err != nil || !ok {
			return 0, false
		}
		v, ok := states[modelID]
		return v, ok
	}
}
