package containers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/docker/docker/client"
	tclog "github.com/testcontainers/testcontainers-go/log"
)

// ErrDockerUnreachable wraps every "cannot talk to Docker" error.
var ErrDockerUnreachable = errors.New("docker is not reachable")

// Connect returns a Docker API client for DOCKER_HOST (default
// unix:///var/run/docker.sock) and checks that the engine answers.
func Connect(ctx context.Context) (*client.Client, error) {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, dockerUnreachable(err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := cli.Ping(pctx); err != nil {
		cli.Close()
		return nil, dockerUnreachable(err)
	}
	return cli, nil
}

func dockerUnreachable(err error) error {
	host := os.Getenv("DOCKER_HOST")
	shown := fmt.Sprintf("DOCKER_HOST=%q", host)
	if host == "" {
		shown = "DOCKER_HOST is unset, so unix:///var/run/docker.sock"
	}
	return fmt.Errorf("%w (%s): the embedded stack needs a running Docker Engine (20.10 or newer) this user may use; start Docker or point DOCKER_HOST at it: %w",
		ErrDockerUnreachable, shown, err)
}

// tcSetup configures testcontainers-go once per process: no Ryuk (it
// cannot be pulled here, and `drill stack up` must outlive the process; we
// clean up by label ourselves) and its log lines go to our logger at debug.
var tcSetup sync.Once

func setupTestcontainers(log *slog.Logger) {
	tcSetup.Do(func() {
		if os.Getenv("TESTCONTAINERS_RYUK_DISABLED") == "" {
			os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
		}
		// We publish on 127.0.0.1 only: testcontainers must not guess a
		// gateway address when it runs inside a container.
		if os.Getenv("TESTCONTAINERS_HOST_OVERRIDE") == "" {
			os.Setenv("TESTCONTAINERS_HOST_OVERRIDE", "127.0.0.1")
		}
		tclog.SetDefault(tcLogger{log})
	})
}

// tcLogger adapts slog to testcontainers' Printf logger.
type tcLogger struct{ l *slog.Logger }

func (t tcLogger) Printf(format string, v ...any) {
	t.l.Debug("testcontainers: " + fmt.Sprintf(format, v...))
}
