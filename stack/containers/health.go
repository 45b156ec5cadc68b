package containers

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/docker/go-connections/nat"
	"github.com/testcontainers/testcontainers-go/wait"
)

// healthWait is a testcontainers wait strategy that polls a real health
// endpoint until it answers 200 and, when it never does, names the service
// and its last answer (status and body, or the connection error) and the
// tail of the container's log.
type healthWait struct {
	service string
	port    nat.Port
	path    string
	timeout time.Duration
	log     *slog.Logger
}

// Timeout implements wait.StrategyTimeout, so testcontainers does not cut
// the wait at its own 60 s default.
func (h *healthWait) Timeout() *time.Duration { return &h.timeout }

var _ wait.Strategy = (*healthWait)(nil)

// WaitUntilReady implements wait.Strategy.
func (h *healthWait) WaitUntilReady(ctx context.Context, target wait.StrategyTarget) error {
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	client := &http.Client{Timeout: 3 * time.Second}
	last := "no answer yet"
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, answer := h.poll(ctx, client, target)
		if ok {
			return nil
		}
		if ctx.Err() == nil || last == "no answer yet" { // keep the last real answer
			last = answer
		}
		if h.log != nil {
			h.log.Debug("health", "service", h.service, "answer", answer)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s never became healthy within %s: last answer from GET %s: %s%s",
				h.service, h.timeout, h.path, last, logTail(context.WithoutCancel(ctx), target))
		case <-tick.C:
		}
	}
}

func (h *healthWait) poll(ctx context.Context, client *http.Client, target wait.StrategyTarget) (bool, string) {
	if st, err := target.State(ctx); err == nil && st != nil && !st.Running {
		return false, fmt.Sprintf("container %s (exit code %d)", st.Status, st.ExitCode)
	}
	// Ports are published on 127.0.0.1 only; testcontainers' Host guesses
	// a gateway address when it runs inside a container.
	host := "127.0.0.1"
	p, err := target.MappedPort(ctx, h.port)
	if err != nil {
		return false, "port: " + err.Error()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+host+":"+p.Port()+h.path, nil)
	if err != nil {
		return false, err.Error()
	}
	resp, err := client.Do(req)
	if err != nil {
		return false, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode == http.StatusOK {
		return true, ""
	}
	return false, fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(body)))
}

// logTail returns the last lines of a container's log, for error messages.
func logTail(ctx context.Context, target wait.StrategyTarget) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	rc, err := target.Logs(ctx)
	if err != nil {
		return ""
	}
	defer rc.Close()
	b, _ := io.ReadAll(io.LimitReader(rc, 1<<20))
	t := strings.TrimSpace(tail(string(b), 10))
	if t == "" {
		return ""
	}
	return "\ncontainer log (tail):\n" + t
}
