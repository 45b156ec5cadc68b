package gpu

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/chaos/chaostest"
	"github.com/aiuptime/aiuptime/internal/procfs"
	"github.com/aiuptime/aiuptime/internal/stacktest"
	"github.com/aiuptime/aiuptime/stack/containers"
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

func complete(url string, timeout time.Duration) error {
	c := http.Client{Timeout: timeout}
	body := `{"model":"aiuptime-tiny","prompt":"hello","max_tokens":4}`
	resp, err := c.Post(url+"/v1/completions", "application/json", strings.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// The engine is found by nvidia-smi inside the container, killed, and the
// server restarts it: /health turns 503, then 200, with a new engine pid.
func TestKillOnTheEmbeddedStack(t *testing.T) {
	st := stacktest.OneModel(t)
	ctx := context.Background()
	svc, err := st.Service(ctx, "model-0")
	if err != nil {
		t.Fatal(err)
	}
	before, err := Find(ctx, st, "model-0")
	if err != nil {
		t.Fatal(err)
	}
	if len(before) != 1 || !strings.Contains(before[0].Cmdline, "engine") {
		t.Fatalf("engine processes: %+v", before)
	}
	env := chaos.Env{Stack: st, Journal: chaostest.Journal(t)}
	f := chaostest.Plan(t, env, KindKill, nil, "model-0")
	rev, err := f.Inject(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stacktest.WaitHealth(t, svc.URL, 503, 10*time.Second)
	stacktest.WaitHealth(t, svc.URL, 200, 60*time.Second)
	if err := rev(ctx); err != nil {
		t.Fatal(err)
	}
	after, err := Find(ctx, st, "model-0")
	if err != nil {
		t.Fatal(err)
	}
	if after[0].HostPID == before[0].HostPID {
		t.Fatalf("engine pid unchanged after kill: %d", after[0].HostPID)
	}
	chaostest.JournalEmpty(t, env.Journal)
}

// A hung engine: requests time out while /health stays 200; the revert
// (journaled as the stack's signal undo) continues it.
func TestHangOnTheEmbeddedStack(t *testing.T) {
	st := stacktest.OneModel(t)
	ctx := context.Background()
	svc, _ := st.Service(ctx, "model-0")
	if err := complete(svc.URL, 5*time.Second); err != nil {
		t.Fatalf("baseline: %v", err)
	}
	env := chaos.Env{Stack: st, Journal: chaostest.Journal(t)}
	f := chaostest.Plan(t, env, KindHang, nil, "model-0")
	rev, err := f.Inject(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rev(ctx) })
	stopped := f.Concrete().(*Hang).Stopped()
	for _, p := range stopped {
		deadline := time.Now().Add(5 * time.Second)
		for s, _ := procfs.State(p.HostPID); s != "T"; s, _ = procfs.State(p.HostPID) {
			if time.Now().After(deadline) {
				t.Fatalf("pid %d state %q, want T", p.HostPID, s)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	err = complete(svc.URL, 500*time.Millisecond)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("request while hung: want a timeout, got %v", err)
	}
	if c := stacktest.Health(svc.URL); c != 200 {
		t.Fatalf("/health while hung: %d, want 200", c)
	}
	recs, _ := env.Journal.List()
	if len(recs) != 1 || recs[0].Reverter != "process/signal" {
		t.Fatalf("journal: %+v", recs)
	}
	if err := rev(ctx); err != nil {
		t.Fatal(err)
	}
	if err := complete(svc.URL, 5*time.Second); err != nil {
		t.Fatalf("after revert: %v", err)
	}
}

// lyingSMI is the embedded stack whose nvidia-smi prints a pid that is no
// process of the service (a host process): a malformed answer the fault
// must refuse instead of signalling the host.
type lyingSMI struct {
	*containers.Stack
	out string
}

func (l lyingSMI) Exec(context.Context, string, []string) ([]byte, error) { return []byte(l.out), nil }

func TestFindRefusesPidsOutsideTheService(t *testing.T) {
	st := stacktest.OneModel(t)
	for _, out := range []string{
		fmt.Sprintf("%d, aiuptime.test, 100\n", os.Getpid()),
		"1000000, ghost, 100\n",
	} {
		_, err := Find(context.Background(), lyingSMI{st, out}, "model-0")
		if !errors.Is(err, chaos.ErrNotInStack) {
			t.Fatalf("%q: want ErrNotInStack, got %v", out, err)
		}
	}
}
