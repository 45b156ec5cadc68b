// Package fixturebin finds the aiuptime source checkout and the binaries of
// the fixtures (the model-server simulator, its nvidia-smi shim, the
// gateway, Toxiproxy's server, k6 with the xk6-aiuptime extension), and
// builds a binary once when it is missing or older than its sources.
//
// Every test, benchmark, suite and the embedded stack use it, so a binary is
// built at most once per run of `make test`: concurrent test processes wait
// on a lock file in the bin dir instead of building the same binary twice.
package fixturebin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Binary names, as files in the bin dir.
const (
	ModelServer = "aiuptime-modelserver"
	NvidiaSMI   = "nvidia-smi"
	Gateway     = "aiuptime-gateway"
	Toxiproxy   = "toxiproxy-server"
	K6          = "k6"
)

// Env variables read here.
const (
	// SrcEnv points at the source checkout (default: the nearest directory
	// above the working directory whose go.mod declares the module).
	SrcEnv = "AIUPTIME_SRC"
	// BinEnv points at the bin dir (the Makefile exports it as bin/).
	BinEnv = "AIUPTIME_BIN"
)

// binary is how one binary is built.
type binary struct {
	dir string // module directory to build in, relative to the source root
	pkg string // package to build
	src string // source directory whose .go files make the binary stale ("": a module dependency)
}

var binaries = map[string]binary{
	ModelServer: {dir: ".", pkg: "./fixtures/modelserver/cmd/aiuptime-modelserver", src: "fixtures"},
	NvidiaSMI:   {dir: ".", pkg: "./fixtures/modelserver/cmd/nvidia-smi", src: "fixtures"},
	Gateway:     {dir: ".", pkg: "./fixtures/gateway/cmd/aiuptime-gateway", src: "fixtures"},
	Toxiproxy:   {dir: ".", pkg: "github.com/Shopify/toxiproxy/v2/cmd/server"},
	K6:          {dir: "xk6-aiuptime", pkg: "./cmd/k6", src: "xk6-aiuptime"},
}

const modulePath = "github.com/aiuptime/aiuptime"

// ModuleRoot finds the aiuptime source checkout: $AIUPTIME_SRC, else the
// nearest directory above the working directory whose go.mod declares the
// aiuptime module.
func ModuleRoot() (string, error) {
	if d := os.Getenv(SrcEnv); d != "" {
		return d, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("module root: %w", err)
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module "+modulePath+"\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no aiuptime source checkout above the working directory (set %s)", SrcEnv)
		}
		dir = parent
	}
}

// Dir is where binaries are looked for and built: $AIUPTIME_BIN, else bin/
// of the source checkout, else <user cache dir>/aiuptime/bin.
func Dir() string {
	if d := os.Getenv(BinEnv); d != "" {
		return d
	}
	if root, err := ModuleRoot(); err == nil {
		return filepath.Join(root, "bin")
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "aiuptime", "bin")
	}
	return filepath.Join(os.TempDir(), "aiuptime", "bin")
}

// Ensure makes sure the named binaries exist in Dir() and are not older
// than their sources, building the missing or stale ones, and returns
// Dir(). Without a source checkout a missing binary is an error naming it.
func Ensure(ctx context.Context, names ...string) (string, error) {
	dir := Dir()
	root, rootErr := ModuleRoot()
	for _, n := range names {
		b, ok := binaries[n]
		if !ok {
			return dir, fmt.Errorf("fixture binary %q: unknown (want one of %s)", n, strings.Join(Names(), ", "))
		}
		if err := ensure(ctx, root, rootErr, dir, n, b); err != nil {
			return dir, err
		}
	}
	return dir, nil
}

// Path is Ensure for one binary, returning its path.
func Path(ctx context.Context, name string) (string, error) {
	dir, err := Ensure(ctx, name)
	return filepath.Join(dir, name), err
}

// Names lists the known binaries.
func Names() []string {
	out := make([]string, 0, len(binaries))
	for n := range binaries {
		out = append(out, n)
	}
	return out
}

func ensure(ctx context.Context, root string, rootErr error, dir, name string, b binary) error {
	out := filepath.Join(dir, name)
	if fresh(out, root, b) {
		return nil
	}
	if rootErr != nil {
		if _, err := os.Stat(out); err == nil {
			return nil // stale or not, it is all there is
		}
		return fmt.Errorf("fixture binary %s is missing and there is no source checkout to build it (run make fixtures, or set %s): %w", out, BinEnv, rootErr)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("fixture bin dir: %w", err)
	}
	unlock, err := lock(filepath.Join(dir, ".build.lock"))
	if err != nil {
		return err
	}
	defer unlock()
	if fresh(out, root, b) { // another process built it while we waited
		return nil
	}
	tmp := out + fmt.Sprintf(".tmp%d", os.Getpid())
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", tmp, b.pkg)
	cmd.Dir = filepath.Join(root, b.dir)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false")
	if outp, err := cmd.CombinedOutput(); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("go build %s: %w\n%s", b.pkg, err, Tail(string(outp), 20))
	}
	if err := os.Rename(tmp, out); err != nil {
		return fmt.Errorf("fixture binary %s: %w", out, err)
	}
	return nil
}

// fresh reports whether out exists and no source of b is newer.
func fresh(out, root string, b binary) bool {
	fi, err := os.Stat(out)
	if err != nil {
		return false
	}
	return !newerSource(root, b.src, fi.ModTime())
}

// lock takes an exclusive flock on path, waiting for other processes.
func lock(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("fixture build lock: %w", err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("fixture build lock %s: %w", path, err)
	}
	return func() { _ = unix.Flock(int(f.Fd()), unix.LOCK_UN); f.Close() }, nil
}

// newerSource reports whether a non-test .go file under root/src is newer
// than t (false when src is empty or missing).
func newerSource(root, src string, t time.Time) bool {
	if root == "" || src == "" {
		return false
	}
	newer := false
	_ = filepath.WalkDir(filepath.Join(root, src), func(p string, d fs.DirEntry, err error) error {
		if err != nil || newer {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		if fi, err := d.Info(); err == nil && fi.ModTime().After(t) {
			newer = true
		}
		return nil
	})
	return newer
}

// Tail returns the last n lines of a command's output s, as build errors
// and test logs show them.
func Tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
