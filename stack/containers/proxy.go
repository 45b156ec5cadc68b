package containers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/docker/docker/api/types/mount"
	"github.com/testcontainers/testcontainers-go"

	"github.com/aiuptime/aiuptime/stack"
)

func (s *Stack) startProxy(ctx context.Context) error {
	port, err := hostPort(s.o.config(ServiceProxy, stack.RoleProxy).HostPort)
	if err != nil {
		return fmt.Errorf("proxy: %w", err)
	}
	sv := &svc{
		name: ServiceProxy, containerName: "aiuptime-" + s.runID + "-" + ServiceProxy, role: stack.RoleProxy,
		image: s.images[stack.RoleProxy], port: proxyAPIPort, hostPort: port, healthPath: "/version",
		restart: DefaultRestartPolicy,
	}
	// The proxies are in a config file, so a restarted Toxiproxy has them.
	var proxies []toxiProxy
	for _, name := range s.modelNames() {
		m := s.svcs[name]
		m.proxyListen = proxyListenBase + s.nextProxy
		s.nextProxy++
		proxies = append(proxies, m.toxi())
	}
	cfgPath := filepath.Join(s.runDir, "toxiproxy.json")
	if err := writeToxiConfig(cfgPath, proxies); err != nil {
		return err
	}
	s.add(sv)
	req := testcontainers.GenericContainerRequest{
		ContainerRequest: testcontainers.ContainerRequest{
			Image:        sv.image,
			Name:         sv.containerName,
			ExposedPorts: []string{proxyAPIPort},
			Cmd:          []string{"-config", "/etc/toxiproxy.json"},
			Labels:       s.labels(ServiceProxy, stack.RoleProxy),
			WaitingFor:   &healthWait{service: ServiceProxy, port: proxyAPIPort, path: "/version", timeout: s.o.healthTimeout},
		},
		Started: true,
	}
	for _, opt := range []testcontainers.CustomizeRequestOption{
		s.networkOpt(proxyAlias),
		hostConfigOpt(proxyAPIPort, port, sv.restart, []mount.Mount{{Type: mount.TypeBind, Source: cfgPath, Target: "/etc/toxiproxy.json", ReadOnly: true}}),
	} {
		if err := opt(&req); err != nil {
			return err
		}
	}
	s.log.Info("starting", "service", sv.name, "image", sv.image, "port", sv.hostPort)
	c, err := testcontainers.GenericContainer(ctx, req)
	if c != nil {
		sv.containerID = c.GetContainerID()
	}
	if err := classifyStartErr(sv.name, sv.hostPort, err); err != nil {
		return err
	}
	s.mu.Lock()
	s.proxyAPI = fmt.Sprintf("http://127.0.0.1:%d", port)
	for _, name := range s.order {
		if m := s.svcs[name]; m.role == stack.RoleModel && m.proxyListen != 0 {
			m.proxy = &stack.Proxy{APIURL: s.proxyAPI, Name: m.name}
		}
	}
	s.mu.Unlock()
	return nil
}

// toxiProxy is one proxy in Toxiproxy's config file and API.
type toxiProxy struct {
	Name     string `json:"name"`
	Listen   string `json:"listen"`
	Upstream string `json:"upstream"`
	Enabled  bool   `json:"enabled"`
}

func (sv *svc) toxi() toxiProxy {
	return toxiProxy{
		Name:     sv.name,
		Listen:   fmt.Sprintf("0.0.0.0:%d", sv.proxyListen),
		Upstream: fmt.Sprintf("%s:%s", sv.name, sv.port.Port()),
		Enabled:  true,
	}
}

func writeToxiConfig(path string, proxies []toxiProxy) error {
	b, err := json.MarshalIndent(proxies, "", "  ")
	if err != nil {
		return fmt.Errorf("toxiproxy config: %w", err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("toxiproxy config: %w", err)
	}
	return nil
}

// toxiCreate adds a proxy through the Toxiproxy API.
func (s *Stack) toxiCreate(ctx context.Context, p toxiProxy) error {
	b, _ := json.Marshal(p)
	return s.toxiDo(ctx, http.MethodPost, "/proxies", b, http.StatusCreated, http.StatusConflict)
}

// toxiDelete removes a proxy ("not found" is success).
func (s *Stack) toxiDelete(ctx context.Context, name string) error {
	return s.toxiDo(ctx, http.MethodDelete, "/proxies/"+name, nil, http.StatusNoContent, http.StatusNotFound)
}

func (s *Stack) toxiDo(ctx context.Context, method, path string, body []byte, ok ...int) error {
	api := s.ProxyAPIURL()
	if api == "" {
		return errors.New("no proxy")
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, api+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("toxiproxy %s %s: %w", method, path, err)
	}
	resp.Body.Close()
	for _, c := range ok {
		if resp.StatusCode == c {
			return nil
		}
	}
	return fmt.Errorf("toxiproxy %s %s: status %d", method, path, resp.StatusCode)
}
