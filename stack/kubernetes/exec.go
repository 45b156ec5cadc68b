package kubernetes

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"

	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"
	"k8s.io/streaming/pkg/httpstream"

	"github.com/aiuptime/aiuptime/stack"
)

var _ stack.Execer = (*Stack)(nil)

// Exec implements stack.Execer: `kubectl exec` through the API server (the
// pod's exec subresource, over WebSocket, falling back to SPDY when the
// server cannot upgrade to it) in the first container of the service's
// pod, its ownership re-proved first. stdout is returned; a non-zero exit
// status is an error carrying stderr.
func (s *Stack) Exec(ctx context.Context, service string, argv []string) ([]byte, error) {
	if len(argv) == 0 {
		return nil, fmt.Errorf("exec in %s: no command", service)
	}
	svc, pod, err := s.lookup(ctx, service)
	if err != nil {
		return nil, err
	}
	if err := s.OwnsPod(ctx, pod.Namespace, pod.Name, svc.Role); err != nil {
		return nil, fmt.Errorf("exec in %s: %w", service, err)
	}
	if s.cfg == nil || len(pod.Spec.Containers) == 0 {
		return nil, stack.Unsupported(Kind, "exec in "+service+" (no REST config or no container)")
	}
	ref := pod.Namespace + "/" + pod.Name
	ex, err := s.executor(pod.Namespace, pod.Name, pod.Spec.Containers[0].Name, argv)
	if err != nil {
		return nil, fmt.Errorf("exec %s in pod %s: %w", argv[0], ref, err)
	}
	var stdout, stderr bytes.Buffer
	err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &stdout, Stderr: &stderr})
	var exit utilexec.ExitError
	if errors.As(err, &exit) && exit.Exited() {
		return stdout.Bytes(), fmt.Errorf("%s in pod %s exited %d: %s", argv[0], ref, exit.ExitStatus(), strings.TrimSpace(stderr.String()))
	}
	if err != nil {
		return stdout.Bytes(), fmt.Errorf("exec %s in pod %s: %w", argv[0], ref, err)
	}
	return stdout.Bytes(), nil
}

// executor builds the exec request's executor: WebSocket first (the
// API server's current protocol), SPDY when the upgrade itself fails, so
// a command never runs twice.
func (s *Stack) executor(namespace, pod, container string, argv []string) (remotecommand.Executor, error) {
	u, err := url.Parse(s.cfg.Host)
	if err != nil {
		return nil, fmt.Errorf("api server %q: %w", s.cfg.Host, err)
	}
	if u.Scheme == "" {
		u.Scheme = "https"
	}
	u.Path = path.Join(u.Path, "api", "v1", "namespaces", namespace, "pods", pod, "exec")
	q := url.Values{"container": {container}, "stdout": {"true"}, "stderr": {"true"}, "command": argv}
	u.RawQuery = q.Encode()
	ws, err := remotecommand.NewWebSocketExecutor(s.cfg, "GET", u.String())
	if err != nil {
		return nil, fmt.Errorf("websocket executor: %w", err)
	}
	spdy, err := remotecommand.NewSPDYExecutor(s.cfg, "POST", u)
	if err != nil {
		return nil, fmt.Errorf("spdy executor: %w", err)
	}
	return remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
}
