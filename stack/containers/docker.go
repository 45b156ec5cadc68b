package containers

import (
	"fmt"
	"log/slog"
	"os"
	"sync"

	tclog "github.com/testcontainers/testcontainers-go/log"
)

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
