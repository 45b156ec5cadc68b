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
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/client"

	"github.com/aiuptime/aiuptime/internal/fixturebin"
)

// Fixture names (image repositories aiuptime/<name>).
const (
	FixtureModelServer = "modelserver"
	FixtureGateway     = "gateway"
	FixtureToxiproxy   = "toxiproxy"
)

// fixtureSpec is how to build one fixture image: its Dockerfile and the
// fixturebin binaries copied into the build context.
type fixtureSpec struct {
	name       string
	dockerfile string // relative to the module root
	binaries   []string
}

var fixtures = map[string]fixtureSpec{
	FixtureModelServer: {name: FixtureModelServer, dockerfile: "fixtures/modelserver/Dockerfile", binaries: []string{fixturebin.ModelServer, fixturebin.NvidiaSMI}},
	FixtureGateway:     {name: FixtureGateway, dockerfile: "fixtures/gateway/Dockerfile", binaries: []string{fixturebin.Gateway}},
	FixtureToxiproxy:   {name: FixtureToxiproxy, dockerfile: "fixtures/toxiproxy/Dockerfile", binaries: []string{fixturebin.Toxiproxy}},
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
		data, err := os.ReadFile(filepath.Join(binDir, b))
		if err != nil {
			return nil, fmt.Errorf("fixture %s: %w", spec.name, err)
		}
		files = append(files, contextFile{name: b, data: data, mode: 0o755})
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
// (FixtureModelServer, FixtureGateway, FixtureToxiproxy) from its binaries
// (built first when missing or stale, see fixturebin), and returns its
// content-hash tag. A build failure returns the tail of the build log.
func EnsureImage(ctx context.Context, cli client.APIClient, log *slog.Logger, fixture string) (ImageBuild, error) {
	start := time.Now()
	spec, ok := fixtures[fixture]
	if !ok {
		return ImageBuild{}, fmt.Errorf("unknown fixture %q", fixture)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	root, err := fixturebin.ModuleRoot()
	if err != nil {
		return ImageBuild{}, fmt.Errorf("fixture %s: %w", fixture, err)
	}
	binDir, err := fixturebin.Ensure(ctx, spec.binaries...)
	if err != nil {
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
