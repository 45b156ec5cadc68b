package drill

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/aiuptime/aiuptime/drill/plan"
	"github.com/aiuptime/aiuptime/recovery"
	"github.com/aiuptime/aiuptime/reports"
	"github.com/aiuptime/aiuptime/stack"
	"github.com/aiuptime/aiuptime/uptime"
)

// healthyStreak is how many polls in a row "await: healthy" must see.
const healthyStreak = 3

type awaitFunc func(ctx context.Context, since time.Time) (bool, string)

// runAwait blocks until the step's condition holds or its timeout passes;
// a timeout marks the step failed.
func (r *Runner) runAwait(ctx context.Context, s plan.Step, rec *stepRecord) error {
	timeout := s.Timeout.D()
	switch s.Await.Kind {
	case plan.AwaitAlertFiring, plan.AwaitAlertResolved, plan.AwaitCondition:
		if r.mon == nil {
			return fmt.Errorf("await %s needs the plan's monitoring block", s.Await.String())
		}
		ok, detail, err := r.mon.await(ctx, s.Await, timeout)
		if err != nil {
			return err
		}
		if !ok {
			rec.status, rec.err = reports.StatusFailed, detail
		}
		rec.detail = detail
		return nil
	}
	check, err := r.awaitCheck(s)
	if err != nil {
		return err
	}
	// "healthy" must hold for a few polls in a row: right after a fault the
	// target may still answer from before it noticed (an engine killed a
	// millisecond ago), and that is not a recovery.
	need := 1
	if s.Await.Kind == plan.AwaitHealthy {
		need = healthyStreak
	}
	ok, why := poll(ctx, check, need, timeout)
	rec.detail = why
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	if !ok {
		rec.status = reports.StatusFailed
		rec.err = fmt.Sprintf("%s not reached within %s: %s", s.Await.String(), timeout, why)
	}
	return nil
}

// poll checks every DefaultAwaitPoll until check holds need times in a
// row or timeout passes; it returns the last detail.
func poll(ctx context.Context, check awaitFunc, need int, timeout time.Duration) (bool, string) {
	deadline := time.Now().Add(timeout)
	since := time.Now()
	t := time.NewTicker(DefaultAwaitPoll)
	defer t.Stop()
	streak := 0
	for {
		ok, why := check(ctx, since)
		if ok {
			if streak++; streak >= need {
				return true, why
			}
		} else {
			streak = 0
		}
		if time.Now().After(deadline) {
			return false, why
		}
		select {
		case <-ctx.Done():
			return false, why
		case <-t.C:
		}
	}
}

func (r *Runner) awaitCheck(s plan.Step) (awaitFunc, error) {
	switch s.Await.Kind {
	case plan.AwaitRecovered:
		need := uptime.DefaultRecoveryThreshold
		return func(_ context.Context, since time.Time) (bool, string) {
			st := r.traffic.window.Stats(time.Now())
			if st.InOutage {
				return false, fmt.Sprintf("in an outage since %s", st.OutageSince.Format(time.RFC3339Nano))
			}
			if !st.StreakGood || st.Streak < need || st.LastResult.Before(since) {
				return false, fmt.Sprintf("%d consecutive good requests of %d", goodStreak(st), need)
			}
			return true, fmt.Sprintf("%d consecutive good requests", st.Streak)
		}, nil
	case plan.AwaitHealthy:
		hc := &http.Client{Timeout: 2 * time.Second}
		return func(ctx context.Context, _ time.Time) (bool, string) {
			return r.allHealthy(ctx, hc, s.Target)
		}, nil
	}
	return nil, fmt.Errorf("await %s: %w", s.Await.String(), stack.ErrUnsupported)
}

func goodStreak(st uptime.WindowStats) int {
	if st.StreakGood {
		return st.Streak
	}
	return 0
}

// drain reads a little of a response body and closes it.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	_ = resp.Body.Close()
}

// allHealthy checks the health endpoint of the targeted services (default:
// every gateway and model service), and that the gateway has them in
// rotation.
func (r *Runner) allHealthy(ctx context.Context, hc *http.Client, t *plan.Target) (bool, string) {
	svcs, err := r.stack.Services(ctx)
	if err != nil {
		return false, err.Error()
	}
	if t != nil {
		names, err := r.pick(ctx, t)
		if err != nil {
			return false, err.Error()
		}
		svcs = only(svcs, names)
	}
	return servicesHealthy(ctx, hc, r.stack, svcs)
}

// servicesHealthy checks the health endpoint of each gateway and model
// service of svcs, and that the gateway of st has the models in rotation.
func servicesHealthy(ctx context.Context, hc *http.Client, st stack.Stack, svcs []stack.Service) (bool, string) {
	for _, s := range svcs {
		if (s.Role != stack.RoleGateway && s.Role != stack.RoleModel) || s.URL == "" || s.HealthPath == "" {
			continue
		}
		code, err := getStatus(ctx, hc, s.URL+s.HealthPath)
		if err != nil {
			return false, fmt.Sprintf("%s: %v", s.Name, err)
		}
		if code != http.StatusOK {
			return false, fmt.Sprintf("%s: %s answers %d", s.Name, s.HealthPath, code)
		}
		if s.Role == stack.RoleModel && stack.ServerOf(s).HealthBeforeModel {
			if err := completes(ctx, hc, s); err != nil {
				return false, fmt.Sprintf("%s: %s answers, but a completion does not (%v)", s.Name, s.HealthPath, err)
			}
		}
	}
	// Healthy also means back in rotation: the gateway's own last request
	// to it succeeded (litellm_deployment_state 0). A model server the
	// gateway is cooling down, or reaches only over connections left stuck
	// by a healed partition, serves nobody, and the next fault would find
	// no deployment to fail over to.
	if states := deploymentStates(ctx, hc, st); states != nil {
		for _, s := range svcs {
			if s.Role != stack.RoleModel || s.DeploymentID == "" {
				continue
			}
			if v, ok := states[s.DeploymentID]; ok && v != 0 {
				return false, fmt.Sprintf("%s: not back in the gateway's rotation (litellm_deployment_state %g)", s.Name, v)
			}
		}
	}
	return true, "every service healthy and in rotation"
}

func only(svcs []stack.Service, names []string) []stack.Service {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	var out []stack.Service
	for _, s := range svcs {
		if want[s.Name] {
			out = append(out, s)
		}
	}
	return out
}

// deploymentStates reads litellm_deployment_state by model_id from the
// gateway's /metrics (LiteLLM: 0 healthy, 1 partial outage, 2 cooling
// down). nil when the gateway exposes no such metric.
func deploymentStates(ctx context.Context, hc *http.Client, st stack.Stack) map[string]float64 {
	gw, err := probeTarget(ctx, st, "")
	if err != nil || gw.URL == "" {
		return nil
	}
	states, ok, err := recovery.ReadDeploymentStates(ctx, hc, gw.URL, st.APIKey())
	if err != nil || !ok {
		return nil
	}
	return states
}

// completes asks a model server directly for a one-token completion: the
// readiness of a server whose health endpoint answers before its model can
// serve (stack.Server.HealthBeforeModel). It sends no key: the gateway's
// is not the model server's to see.
func completes(ctx context.Context, hc *http.Client, s stack.Service) error {
	body, err := json.Marshal(map[string]any{"model": s.ModelName, "max_tokens": 1,
		"messages": []map[string]string{{"role": "user", "content": "ready?"}}})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/v1/chat/completions", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer drain(resp)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}
