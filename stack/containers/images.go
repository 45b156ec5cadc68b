package containers

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/client"
)

// Fixture names (image repositories aiuptime/<name>).
const (
	FixtureModelServer = "modelserver"
	FixtureGateway     = "gateway"
	FixtureToxiproxy   = "toxiproxy"
)

// binary is a static program of a fixture image.
type binary struct {
	name string // file name in the bin dir and the build context
	pkg  string // go build package
	src  string // source dir under the module root checked for staleness ("" for modules)
}

// fixtureSpec is how to build one fixture image.
type fixtureSpec struct {
	name       string
	dockerfile string // relative to the module root
	binaries   []binary
}

var fixtures = map[string]fixtureSpec{
	FixtureModelServer: {
		name:       FixtureModelServer,
		dockerfile: "fixtures/modelserver/Dockerfile",
		binaries: []binary{
			{name: "aiuptime-modelserver", pkg: "./fixtures/modelserver/cmd/aiuptime-modelserver", src: "fixtures/modelserver"},
			{name: "nvidia-smi", pkg: "./fixtures/modelserver/cmd/nvidia-smi", src: "fixtures/modelserver"},
		},
	},
	FixtureGateway: {
		name:       FixtureGateway,
		dockerfile: "fixtures/gateway/Dockerfile",
		binaries: []binary{
			{name: "aiuptime-gateway", pkg: "./fixtures/gateway/cmd/aiuptime-gateway", src: "fixtures/gateway"},
		},
	},
	FixtureToxiproxy: {
		name:       FixtureToxiproxy,
		dockerfile: "fixtures/toxiproxy/Dockerfile",
		binaries: []binary{
			{name: "toxiproxy-server", pkg: "github.com/Shopify/toxiproxy/v2/cmd/server"},
		},
	},
}

// ModuleRoot finds the aiuptime source checkout: $AIUPTIME_SRC, else the
// nearest directory above the working directory whose go.mod declares the
// aiuptime module.
func ModuleRoot() (string, error) {
	if d := os.Getenv("AIUPTIME_SRC"); d != "" {
		return d, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("module root: %w", err)
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module github.com/aiuptime/aiuptime\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no aiuptime source checkout above the working directory (set AIUPTIME_SRC)")
		}
		dir = parent
	}
}

// BinDir is where fixture binaries are looked for and built: $AIUPTIME_BIN
// (the Makefile exports it), else <user cache dir>/aiuptime/bin.
func BinDir() string {
	if d := os.Getenv("AIUPTIME_BIN"); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "aiuptime", "bin")
	}
	return filepath.Join(os.TempDir(), "aiuptime", "bin")
}

// ensureBinaries makes sure every binary of spec exists in binDir and is
// not older than its sources; it builds the missing or stale ones with
// CGO_ENABLED=0 go build.
func ensureBinaries(ctx context.Context, log *slog.Logger, root, binDir string, spec fixtureSpec) error {
	for _, b := range spec.binaries {
		out := filepath.Join(binDir, b.name)
		fi, err := os.Stat(out)
		switch {
		case err == nil && !newerSource(root, b.src, fi.ModTime()):
			continue
		case err != nil && !errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("fixture binary %s: %w", out, err)
		}
		if root == "" {
			return fmt.Errorf("fixture binary %s is missing and there is no source checkout to build it (run make fixtures or set AIUPTIME_BIN)", out)
		}
		if err := os.MkdirAll(binDir, 0o755); err != nil {
			return fmt.Errorf("fixture bin dir: %w", err)
		}
		log.Info("building fixture binary", "binary", b.name, "dir", binDir)
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", out, b.pkg)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false")
		if outp, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %w\n%s", b.pkg, err, tail(string(outp), 20))
		}
	}
	return nil
}

// newerSource reports whether a .go file or Dockerfile under root/src is
// newer than t (skipped when src is empty or not present).
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

// contextFile is one file of an image build context.
type contextFile struct {
	name string
	data []byte
	mode int64
}

// buildContext reads the Dockerfile and the binaries of spec.
func buildContext(root, binDir string, spec fixtureSpec) ([]contextFile, error) {
	df, err := os.ReadFile(filepath.Join(root, spec.dockerfile))
	if err != nil {
		return nil, fmt.Errorf("fixture %s: dockerfile: %w", spec.name, err)
	}
	files := []contextFile{{name: "Dockerfile", data: df, mode: 0o644}}
	for _, b := range spec.binaries {
		data, err := os.ReadFile(filepath.Join(binDir, b.name))
		if err != nil {
			return nil, fmt.Errorf("fixture %s: %w", spec.name, err)
		}
		files = append(files, contextFile{name: b.name, data: data, mode: 0o755})
	}
	return files, nil
}

// ContentTag is the image tag for a build context: aiuptime/<fixture>:<12
// hex digits of sha256 over every file's name and bytes>. An unchanged
// build keeps its tag and is not rebuilt.
func contentTag(fixture string, files []contextFile) string {
	h := sha256.New()
	for _, f := range files {
		fmt.Fprintf(h, "%s\x00%d\x00", f.name, len(f.data))
		h.Write(f.data)
	}
	return "aiuptime/" + fixture + ":" + hex.EncodeToString(h.Sum(nil))[:12]
}

func tarContext(files []contextFile) (*bytes.Buffer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: time.Unix(0, 0)}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return &buf, nil
}

// ImageBuild is the outcome of EnsureImage.
type ImageBuild struct {
	Tag      string
	Built    bool // false: the tag existed already
	Duration time.Duration
}

// EnsureImage builds (if needed) the FROM-scratch image of a fixture
// (FixtureModelServer, FixtureGateway, FixtureToxiproxy) from binaries in
// binDir ("" for BinDir()), building missing binaries first, and returns
// its content-hash tag. A build failure returns the tail of the build log.
func EnsureImage(ctx context.Context, cli client.APIClient, log *slog.Logger, fixture, binDir string) (ImageBuild, error) {
	start := time.Now()
	spec, ok := fixtures[fixture]
	if !ok {
		return ImageBuild{}, fmt.Errorf("unknown fixture %q", fixture)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if binDir == "" {
		binDir = BinDir()
	}
	root, err := ModuleRoot()
	if err != nil {
		return ImageBuild{}, fmt.Errorf("fixture %s: %w", fixture, err)
	}
	if err := ensureBinaries(ctx, log, root, binDir, spec); err != nil {
		return ImageBuild{}, err
	}
	files, err := buildContext(root, binDir, spec)
	if err != nil {
		return ImageBuild{}, err
	}
	tag := contentTag(fixture, files)
	if _, err := cli.ImageInspect(ctx, tag); err == nil {
		return ImageBuild{Tag: tag, Duration: time.Since(start)}, nil
	} else if !client.IsErrNotFound(err) {
		return ImageBuild{}, fmt.Errorf("inspect image %s: %w", tag, err)
	}
	log.Info("building image", "image", tag)
	if err := buildImage(ctx, cli, files, fixture, tag, "aiuptime/"+fixture+":dev"); err != nil {
		return ImageBuild{}, err
	}
	return ImageBuild{Tag: tag, Built: true, Duration: time.Since(start)}, nil
}

// buildImage builds a context into an image with the given tags; a failure
// returns the tail of the build log.
func buildImage(ctx context.Context, cli client.APIClient, files []contextFile, fixture string, tags ...string) error {
	tarball, err := tarContext(files)
	if err != nil {
		return fmt.Errorf("image %s: build context: %w", tags[0], err)
	}
	resp, err := cli.ImageBuild(ctx, tarball, build.ImageBuildOptions{
		Tags:        tags,
		Dockerfile:  "Dockerfile",
		Remove:      true,
		ForceRemove: true,
		Labels:      map[string]string{"aiuptime.fixture": fixture},
	})
	if err != nil {
		return fmt.Errorf("build image %s: %w", tags[0], err)
	}
	defer resp.Body.Close()
	logText, buildErr := readBuildStream(resp.Body)
	if buildErr != nil {
		return fmt.Errorf("build image %s: %w\nbuild log (tail):\n%s", tags[0], buildErr, tail(logText, 20))
	}
	return nil
}

// readBuildStream reads Docker's JSON build stream and returns the log and
// the build's error message, if any.
func readBuildStream(r io.Reader) (string, error) {
	var logb strings.Builder
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var m struct {
			Stream      string `json:"stream"`
			Error       string `json:"error"`
			ErrorDetail struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			logb.Write(sc.Bytes())
			logb.WriteByte('\n')
			continue
		}
		logb.WriteString(m.Stream)
		if m.Error != "" {
			logb.WriteString(m.Error + "\n")
			return logb.String(), errors.New(m.Error)
		}
	}
	if err := sc.Err(); err != nil {
		return logb.String(), fmt.Errorf("read build output: %w", err)
	}
	return logb.String(), nil
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
