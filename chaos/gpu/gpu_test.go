package gpu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/aiuptime/aiuptime/chaos"
)

func TestParseComputeApps(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want []Process
	}{
		{"real with header and units", "pid, process_name, used_gpu_memory [MiB]\n3858903, VLLM::EngineCore, 6265 MiB\n3880364, VLLM::EngineCore, 5530 MiB\n",
			[]Process{{3858903, "VLLM::EngineCore", 6265}, {3880364, "VLLM::EngineCore", 5530}}},
		{"noheader nounits", "42, aiuptime::EngineCore, 2048\n", []Process{{42, "aiuptime::EngineCore", 2048}}},
		{"path name", "7, ./build/bin/llama-server, 6010\n", []Process{{7, "./build/bin/llama-server", 6010}}},
		{"comma in name", "8, python3 -c a,b, 10\r\n", []Process{{8, "python3 -c a,b", 10}}},
		{"n/a memory", "9, proc, [N/A]\n", []Process{{9, "proc", -1}}},
		{"empty", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseComputeApps([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Fatal(d)
			}
		})
	}
	for _, bad := range []string{"abc, x, 1", "1, 2", "0, x, 1", "5, x, -3", "5, x, lots"} {
		if _, err := ParseComputeApps([]byte(bad)); err == nil {
			t.Errorf("%q: want error", bad)
		}
	}
}

func FuzzParseComputeApps(f *testing.F) {
	f.Add([]byte("pid, process_name, used_gpu_memory [MiB]\n3858903, VLLM::EngineCore, 6265 MiB\n"))
	f.Add([]byte("42, aiuptime::EngineCore, 2048\n"))
	f.Add([]byte("9, a,b,c, [Not Supported]\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ps, err := ParseComputeApps(b)
		if err != nil {
			return
		}
		for _, p := range ps {
			if p.PID <= 0 || p.UsedMemoryMiB < -1 || strings.ContainsAny(p.Name, "\n") {
				t.Fatalf("bad parse %+v from %q", p, b)
			}
		}
	})
}

func TestParseSignal(t *testing.T) {
	for in, ok := range map[string]bool{"": true, "KILL": true, "SIGTERM": true, "9": true, "stop": true, "BOGUS": false, "0": false, "99": false} {
		if _, err := ParseSignal(in); (err == nil) != ok {
			t.Errorf("ParseSignal(%q): err=%v", in, err)
		}
	}
}

// fixture runs the real model-server fixture on 127.0.0.1.
type fixture struct {
	url    string
	runDir string
	smi    string
}

func binDir(t *testing.T) string {
	dir := os.Getenv("AIUPTIME_BIN")
	if dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "aiuptime-modelserver")); err == nil {
			if _, err := os.Stat(filepath.Join(dir, "nvidia-smi")); err == nil {
				return dir
			}
		}
	}
	buildOnce.Do(func() { builtDir, buildErr = buildFixtures() })
	if buildErr != nil {
		t.Skipf("fixtures do not build: %v", buildErr)
	}
	return builtDir
}

var (
	buildOnce sync.Once
	builtDir  string
	buildErr  error
)

func buildFixtures() (string, error) {
	dir, err := os.MkdirTemp("", "aiuptime-gpu-bin-")
	if err != nil {
		return "", err
	}
	for _, c := range [][2]string{{"aiuptime-modelserver", "./fixtures/modelserver/cmd/aiuptime-modelserver"}, {"nvidia-smi", "./fixtures/modelserver/cmd/nvidia-smi"}} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, c[0]), c[1])
		cmd.Dir = "../.."
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("%s: %v %s", c[0], err, out)
		}
	}
	return dir, nil
}

func startFixture(t *testing.T) fixture {
	bin := binDir(t)
	tmp := t.TempDir()
	model := filepath.Join(tmp, "model")
	if out, err := exec.Command(filepath.Join(bin, "aiuptime-modelserver"), "gen-model", "--dir", model, "--name", "tiny", "--version", "1", "--size", "65536").CombinedOutput(); err != nil {
		t.Fatalf("gen-model: %v %s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	runDir := filepath.Join(tmp, "run")
	srv := exec.Command(filepath.Join(bin, "aiuptime-modelserver"), "serve", "--model-dir", model, "--host", "127.0.0.1", "--port", fmt.Sprint(port), "--run-dir", runDir, "--engine-restart", "always", "--load-rate", "131072")
	srv.Stdout, srv.Stderr = os.Stderr, os.Stderr
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Process.Kill(); _ = srv.Wait() })
	fx := fixture{url: fmt.Sprintf("http://127.0.0.1:%d", port), runDir: runDir, smi: filepath.Join(bin, "nvidia-smi")}
	waitHealth(t, fx, 200, 30*time.Second)
	return fx
}

func health(fx fixture) int {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get(fx.url + "/health")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func waitHealth(t *testing.T, fx fixture, code int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for health(fx) != code {
		if time.Now().After(deadline) {
			t.Fatalf("/health never became %d", code)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func complete(fx fixture, timeout time.Duration) error {
	c := http.Client{Timeout: timeout}
	body := `{"model":"tiny","prompt":"hello","max_tokens":4}`
	resp, err := c.Post(fx.url+"/v1/completions", "application/json", strings.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

func deps(t *testing.T) chaos.Deps {
	j, err := chaos.OpenJournal(chaos.WithStateDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	return chaos.Deps{Journal: j}
}

func TestKillRealFixture(t *testing.T) {
	fx := startFixture(t)
	tg := Target{Service: "model-0", Exec: HostExec(fx.smi, []string{"AIUPTIME_RUN_DIR=" + fx.runDir})}
	before, err := Find(context.Background(), tg)
	if err != nil {
		t.Fatal(err)
	}
	if len(before) == 0 || before[0].Name != "aiuptime::EngineCore" {
		t.Fatalf("found %+v", before)
	}
	f := &Kill{Target: tg, Deps: deps(t)}
	rev, err := f.Inject(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	waitHealth(t, fx, 503, 10*time.Second)
	waitHealth(t, fx, 200, 60*time.Second)
	if err := rev(context.Background()); err != nil {
		t.Fatal(err)
	}
	after, err := Find(context.Background(), tg)
	if err != nil {
		t.Fatal(err)
	}
	if after[0].HostPID == before[0].HostPID {
		t.Fatalf("engine pid unchanged after kill: %d", after[0].HostPID)
	}
}

func TestHangRealFixture(t *testing.T) {
	fx := startFixture(t)
	tg := Target{Service: "model-0", Exec: HostExec(fx.smi, []string{"AIUPTIME_RUN_DIR=" + fx.runDir})}
	if err := complete(fx, 5*time.Second); err != nil {
		t.Fatalf("baseline: %v", err)
	}
	d := deps(t)
	f := &Hang{Target: tg, Deps: d}
	rev, err := f.Inject(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rev(context.Background()) })
	for _, p := range f.Stopped() {
		deadline := time.Now().Add(5 * time.Second)
		for s, _ := chaos.ProcessState(p.HostPID); s != "T"; s, _ = chaos.ProcessState(p.HostPID) {
			if time.Now().After(deadline) {
				t.Fatalf("pid %d state %q, want T", p.HostPID, s)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	err = complete(fx, 500*time.Millisecond)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("request while hung: want a timeout, got %v", err)
	}
	if c := health(fx); c != 200 {
		t.Fatalf("/health while hung: %d, want 200", c)
	}
	recs, _ := d.Journal.List()
	b, _ := json.Marshal(recs)
	if len(recs) != 1 || !strings.Contains(string(b), "gpu/cont") {
		t.Fatalf("journal: %s", b)
	}
	if err := rev(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := complete(fx, 5*time.Second); err != nil {
		t.Fatalf("after revert: %v", err)
	}
}
