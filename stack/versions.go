package stack

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Version is what a service reports about its version at a point in time.
type Version struct {
	Service string `json:"service"`
	Role    Role   `json:"role"`
	// Version is the application's version: a model server's own
	// (GET /version of vLLM, /api/version of Ollama: Server), litellm_version
	// of a gateway's /health/readiness.
	Version string `json:"version,omitempty"`
	// ImageID is the container's image ID (empty without a handle).
	ImageID string `json:"image_id,omitempty"`
	// Err is why Version could not be read, if so.
	Err string `json:"error,omitempty"`
}

// String renders the version for reports: "0.1.0 (sha256:abcdef123456)".
func (v Version) String() string {
	id := v.ImageID
	if len(id) > 19 {
		id = id[:19]
	}
	switch {
	case v.Version != "" && id != "":
		return v.Version + " (" + id + ")"
	case v.Version != "":
		return v.Version
	case id != "":
		return id
	}
	return "unknown"
}

// Versions reads the version of every service of s (re-inspected now),
// in the order of s.Services. A service that does not answer gets its Err
// set; the error return is only for failing to list the services. Used for
// "version before/after" in reports.
func Versions(ctx context.Context, s Stack) ([]Version, error) {
	svcs, err := s.Services(ctx)
	if err != nil {
		return nil, fmt.Errorf("versions: %w", err)
	}
	out := make([]Version, 0, len(svcs))
	for _, svc := range svcs {
		out = append(out, ServiceVersion(ctx, svc))
	}
	return out, nil
}

// ServiceVersion reads one service's version.
func ServiceVersion(ctx context.Context, svc Service) Version {
	v := Version{Service: svc.Name, Role: svc.Role, ImageID: svc.ImageID}
	var path, field string
	switch svc.Role {
	case RoleModel:
		srv := ServerOf(svc)
		path, field = srv.VersionPath, srv.VersionField
	case RoleGateway:
		path, field = "/health/readiness", "litellm_version"
	default:
		return v
	}
	if svc.URL == "" {
		v.Err = "no url"
		return v
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(svc.URL, "/")+path, nil)
	if err != nil {
		v.Err = err.Error()
		return v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		v.Err = err.Error()
		return v
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		v.Err = err.Error()
		return v
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		v.Err = fmt.Sprintf("GET %s: status %d: not JSON", path, resp.StatusCode)
		return v
	}
	if s, ok := m[field].(string); ok {
		v.Version = s
	} else {
		v.Err = fmt.Sprintf("GET %s: status %d: no %q", path, resp.StatusCode, field)
	}
	return v
}
