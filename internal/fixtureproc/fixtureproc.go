// Package fixtureproc runs the fixture model server and gateway as plain
// processes for tests (no containers), and reads the model server's own
// event log: the ground truth a measurement is checked against. The harness
// never reads that log; only tests do.
package fixtureproc

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aiuptime/aiuptime/internal/fixturebin"
	"github.com/aiuptime/aiuptime/internal/proctest"
)

// ModelName is the model the servers of this package serve.
const ModelName = "tiny"

// ModelServer is a fixture model server process.
type ModelServer struct {
	*proctest.Proc
	URL    string
	RunDir string
}

// StartModelServer generates a 4 MiB model and serves it on a free
// loopback port with the engine restarted in place when it dies
// (--engine-restart always), a model load of about half a second and fast
// tokens; extra flags are appended. It returns once /health answers 200.
func StartModelServer(t *testing.T, bins string, extra ...string) *ModelServer {
	t.Helper()
	dir := t.TempDir()
	modelDir, runDir := filepath.Join(dir, "model"), filepath.Join(dir, "run")
	gen := exec.Command(filepath.Join(bins, fixturebin.ModelServer), "gen-model", "--dir", modelDir, "--name", ModelName, "--version", "1", "--size", "4MiB")
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("gen-model: %v\n%s", err, out)
	}
	port := proctest.FreePort(t)
	args := append([]string{"serve", "--model-dir", modelDir, "--host", "127.0.0.1", "--port", strconv.Itoa(port),
		"--engine-restart", "always", "--load-rate", "8MiB", "--ttft", "2ms", "--itl", "1ms", "--run-dir", runDir}, extra...)
	s := &ModelServer{Proc: proctest.Start(t, filepath.Join(bins, fixturebin.ModelServer), args...),
		URL: fmt.Sprintf("http://127.0.0.1:%d", port), RunDir: runDir}
	s.WaitOK(t, 30*time.Second, s.URL+"/health")
	return s
}

// StartGateway starts the fixture gateway in front of servers (deployment
// ids replica-0, replica-1, ...) with master key key and, unless empty, the
// given router_settings flow mapping; it returns the gateway's base URL
// once it is alive.
func StartGateway(t *testing.T, bins, key, routerSettings string, servers ...*ModelServer) string {
	t.Helper()
	dir := t.TempDir()
	var cfg strings.Builder
	cfg.WriteString("model_list:\n")
	for i, s := range servers {
		fmt.Fprintf(&cfg, "  - model_name: %s\n    litellm_params: {model: hosted_vllm/%s, api_base: %s/v1}\n    model_info: {id: replica-%d}\n",
			ModelName, ModelName, s.URL, i)
	}
	if routerSettings != "" {
		fmt.Fprintf(&cfg, "router_settings: %s\n", routerSettings)
	}
	fmt.Fprintf(&cfg, "general_settings: {master_key: %s, database_path: %s}\n", key, filepath.Join(dir, "gateway.db"))
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	port := proctest.FreePort(t)
	gw := proctest.Start(t, filepath.Join(bins, fixturebin.Gateway), "--config", filepath.Join(dir, "config.yaml"),
		"--host", "127.0.0.1", "--port", strconv.Itoa(port))
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	gw.WaitOK(t, 30*time.Second, url+"/health/liveliness")
	return url
}

var engineFile = regexp.MustCompile(`^engine-(\d+)\.json$`)

// EnginePID finds the server's live engine through its run directory and
// checks /proc that it really is an engine.
func (s *ModelServer) EnginePID(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir(s.RunDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		m := engineFile.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		pid, _ := strconv.Atoi(m[1])
		argv, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err == nil && strings.HasPrefix(string(argv), "aiuptime::EngineCore\x00") {
			return pid
		}
	}
	t.Fatalf("no live engine in %s", s.RunDir)
	return 0
}

// Event is one entry of the server's own event log.
type Event struct {
	State  string    `json:"state"`
	At     time.Time `json:"at"`
	Detail string    `json:"detail"`
}

// Events reads the server's event log (GET /admin/events), oldest first.
func (s *ModelServer) Events(t *testing.T) []Event {
	t.Helper()
	resp, err := http.Get(s.URL + "/admin/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var evs []Event
	if err := json.NewDecoder(resp.Body).Decode(&evs); err != nil {
		t.Fatal(err)
	}
	return evs
}

// First returns the first event of state at or after since.
func First(evs []Event, state string, since time.Time) (Event, bool) {
	for _, e := range evs {
		if e.State == state && !e.At.Before(since) {
			return e, true
		}
	}
	return Event{}, false
}
