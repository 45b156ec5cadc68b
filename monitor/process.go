package monitor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is a host process started by the harness, with its output in a log
// file inside its own directory.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	waitErr error
	once    sync.Once
	stopErr error
}

func lookBinary(name, override, pkg string) (string, error) {
	bin := name
	if override != "" {
		bin = override
	}
	path, err := exec.LookPath(bin)
	if err != nil {
		return "", fmt.Errorf("%w: %s (%v): install it with `apt-get install %s` (or `make deps`), or pass its path as an option",
			ErrNotInstalled, bin, err, pkg)
	}
	return path, nil
}

func startProc(name, bin string, args []string, dir string) (*proc, error) {
	logPath := filepath.Join(dir, name+".log")
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("create %s log: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = lf, lf
	// Its own process group, so that stopping it never signals the harness.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		lf.Close()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process ended, and how.
func (p *proc) exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.waitErr
	default:
		return false, nil
	}
}

// logTail is the end of the process's output, for error messages.
func (p *proc) logTail() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return ""
	}
	b = bytes.TrimSpace(b)
	if len(b) > 1500 {
		b = b[len(b)-1500:]
	}
	return string(b)
}

// stop ends the process: SIGTERM, then SIGKILL after grace. Idempotent.
func (p *proc) stop(grace time.Duration) error {
	p.once.Do(func() {
		if ok, _ := p.exited(); ok {
			return
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(grace):
			_ = p.cmd.Process.Kill()
			<-p.done
			p.stopErr = fmt.Errorf("%s did not stop within %s: killed", p.name, grace)
		}
	})
	return p.stopErr
}

// freePort reserves a free TCP port on 127.0.0.1 and releases it for the
// child to bind. Another process could take it in between; startup then
// fails with the child's bind error in the message.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("reserve a port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	return port, l.Close()
}

// awaitReady polls url until it answers 200, the process exits or ctx ends.
func awaitReady(ctx context.Context, p *proc, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		if ok, err := p.exited(); ok {
			return fmt.Errorf("%s exited before ready (%v): %s", p.name, err, p.logTail())
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("ready request: %w", err)
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Errorf("status %d", resp.StatusCode)
		} else {
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready at %s within %s (last: %v): %s", p.name, url, timeout, last, p.logTail())
		case <-tick.C:
		}
	}
}

// launch starts bin on a free 127.0.0.1 port (args gets the host:port to
// listen on) in dir and waits until its /-/ready answers. It returns the
// process, when started, and the base URL even on error, for cleanup and
// messages.
func launch(ctx context.Context, name, bin, dir string, timeout time.Duration, args func(listen string) []string) (*proc, string, error) {
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	listen := "127.0.0.1:" + strconv.Itoa(port)
	url := "http://" + listen
	p, err := startProc(name, bin, args(listen), dir)
	if err != nil {
		return nil, url, err
	}
	return p, url, awaitReady(ctx, p, url+"/-/ready", timeout)
}

// runTool runs a checking tool (promtool, amtool) and returns its combined
// output; a non-zero exit is errToolRejected.
func runTool(ctx context.Context, bin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(out), errToolRejected
	}
	if err != nil {
		return string(out), fmt.Errorf("run %s: %w", filepath.Base(bin), err)
	}
	return string(out), nil
}

var errToolRejected = errors.New("rejected")

func firstLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, " | ")
}
