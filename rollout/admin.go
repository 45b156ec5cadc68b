package rollout

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Deployment is one entry of the gateway's model list, as LiteLLM's
// /model/new takes it and /model/info returns it.
type Deployment struct {
	ModelName     string         `json:"model_name"`
	LitellmParams map[string]any `json:"litellm_params"`
	ModelInfo     map[string]any `json:"model_info"`
}

// ID is the deployment's model_info.id.
func (d Deployment) ID() string {
	s, _ := d.ModelInfo["id"].(string)
	return s
}

// Weight is the deployment's simple-shuffle weight (1 when unset).
func (d Deployment) Weight() float64 {
	switch w := d.LitellmParams["weight"].(type) {
	case float64:
		return w
	case int:
		return float64(w)
	}
	return 1
}

// APIBase is litellm_params.api_base.
func (d Deployment) APIBase() string {
	s, _ := d.LitellmParams["api_base"].(string)
	return s
}

// StatusError is an admin API answer that is not 2xx.
type StatusError struct {
	Method, Path string
	Status       int
	// Body is the start of the answer (at most 300 bytes).
	Body string
}

// Error describes the answer.
func (e *StatusError) Error() string {
	return fmt.Sprintf("%s %s: status %d: %s", e.Method, e.Path, e.Status, e.Body)
}

// IsStatus reports whether err holds a *StatusError with the status code.
func IsStatus(err error, status int) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Status == status
}

// Admin is a client of the LiteLLM proxy admin API (master key):
// POST /model/new, POST /model/update, POST /model/delete, GET /model/info.
// The same calls drive a real LiteLLM proxy and the gateway fixture.
type Admin struct {
	base string
	key  string
	hc   *http.Client
}

// NewAdmin returns an admin client for the gateway at baseURL. key is the
// master key (a secret: it is sent, never logged).
func NewAdmin(baseURL, key string) *Admin {
	return &Admin{base: strings.TrimRight(baseURL, "/"), key: key, hc: &http.Client{Timeout: 15 * time.Second}}
}

func (a *Admin) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("%s %s: encode: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+a.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return &StatusError{Method: method, Path: path, Status: resp.StatusCode, Body: strings.TrimSpace(string(b[:min(len(b), 300)]))}
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: decode: %w", method, path, err)
		}
	}
	return nil
}

// Models lists the deployments (GET /model/info). The upstream api_key is
// not returned by LiteLLM.
func (a *Admin) Models(ctx context.Context) ([]Deployment, error) {
	var out struct {
		Data []Deployment `json:"data"`
	}
	if err := a.do(ctx, http.MethodGet, "/model/info", nil, &out); err != nil {
		return nil, err
	}
	return out.Data, nil
}

// Model returns the deployment with model_info.id == id.
func (a *Admin) Model(ctx context.Context, id string) (Deployment, error) {
	ms, err := a.Models(ctx)
	if err != nil {
		return Deployment{}, err
	}
	for _, m := range ms {
		if m.ID() == id {
			return m, nil
		}
	}
	return Deployment{}, fmt.Errorf("deployment %s: %w", id, ErrNoDeployment)
}

// Add registers a deployment (POST /model/new).
func (a *Admin) Add(ctx context.Context, d Deployment) error {
	return a.do(ctx, http.MethodPost, "/model/new", d, nil)
}

// SetWeight changes a deployment's weight (POST /model/update).
func (a *Admin) SetWeight(ctx context.Context, id string, w float64) error {
	body := map[string]any{"id": id, "model_info": map[string]any{"id": id},
		"litellm_params": map[string]any{"weight": w}}
	return a.do(ctx, http.MethodPost, "/model/update", body, nil)
}

// Delete removes a deployment (POST /model/delete).
func (a *Admin) Delete(ctx context.Context, id string) error {
	return a.do(ctx, http.MethodPost, "/model/delete", map[string]string{"id": id}, nil)
}
