package probe

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

func (p *Probe) newRequest(ctx context.Context, method, path string, body []byte) (*http.Request, error) {
	u := *p.baseURL()
	u.Path = strings.TrimRight(u.Path, "/") + path
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, err
	}
	for k, vs := range p.o.headers {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if p.o.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+p.o.apiKey)
	}
	return req, nil
}

// transportError turns a client error into a short text without the URL's
// credentials (the API key never travels in the URL).
func transportError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return clip(err.Error())
}

func (p *Probe) doHealth(ctx context.Context, r *Result) {
	resp := p.send(ctx, r, http.MethodGet, p.o.healthPath, nil, "")
	if resp == nil {
		return
	}
	defer resp.Body.Close()
	if _, ok := readAnswer(resp, r, 64<<10); ok {
		r.Outcome = OK
	}
}

// send issues one request and records its status and answering backend.
// On failure to send it fills r's outcome and returns nil.
func (p *Probe) send(ctx context.Context, r *Result, method, path string, body []byte, accept string) *http.Response {
	req, err := p.newRequest(ctx, method, path, body)
	if err != nil {
		r.Outcome, r.Err = Error, clip(err.Error())
		return nil
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		r.Outcome, r.Err = Error, transportError(err)
		return nil
	}
	r.Code = resp.StatusCode
	r.Backend = resp.Header.Get(BackendHeader)
	return resp
}

// readAnswer reads a whole (non-streamed) answer up to limit bytes, stamps
// the latency and judges the status; false when r already holds the failure.
func readAnswer(resp *http.Response, r *Result, limit int64) ([]byte, bool) {
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	r.Latency = time.Since(r.Start)
	switch {
	case err != nil:
		r.Outcome, r.Err = Error, "read body: "+transportError(err)
		return nil, false
	case resp.StatusCode/100 != 2:
		r.Outcome, r.Err = Error, bodyError(resp.StatusCode, body)
		return nil, false
	}
	return body, true
}

func (p *Probe) discoverModel(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, p.o.timeout)
	defer cancel()
	req, err := p.newRequest(ctx, http.MethodGet, "/v1/models", nil)
	if err != nil {
		return "", fmt.Errorf("discover model: %w", err)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("discover model: %s", transportError(err))
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return "", fmt.Errorf("discover model: %s", bodyError(resp.StatusCode, body))
	}
	var list struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return "", fmt.Errorf("discover model: decode /v1/models: %w", err)
	}
	if len(list.Data) == 0 || list.Data[0].ID == "" {
		return "", errors.New("discover model: /v1/models lists no model")
	}
	return list.Data[0].ID, nil
}
