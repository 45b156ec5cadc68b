package dockerhost_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/chaos/chaostest"
	"github.com/aiuptime/aiuptime/chaos/container"
	"github.com/aiuptime/aiuptime/internal/procfs"
	"github.com/aiuptime/aiuptime/internal/stacktest"
	"github.com/aiuptime/aiuptime/stack"
	"github.com/aiuptime/aiuptime/stack/containers"
	"github.com/aiuptime/aiuptime/stack/dockerhost"
)

const canary = "sk-canary-env-7d1e0b"

// TestOwnershipProofAndSealedRecreate, on one real embedded stack:
// the prover finds what the run's label owns and nothing of another run;
// a scope refuses host paths; a container-remove journaled by a drill
// that then "crashed" holds no environment value in clear, and its replay
// still recreates the container with its environment; a record claiming
// another run's label cannot act on this run's container.
func TestOwnershipProofAndSealedRecreate(t *testing.T) {
	st := stacktest.Start(t, containers.WithReplicas(1), containers.WithProxyMode(containers.ProxyNever),
		containers.WithEnv("model", "AIUPTIME_CANARY", canary))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	labels := map[string]string{stack.LabelRun: st.RunID()}
	owned, err := dockerhost.Prover{}.Owned(ctx, labels)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := st.Service(ctx, "model-0")
	if err != nil {
		t.Fatal(err)
	}
	models, err := st.Volume(ctx, "model-0", stack.VolumeModels)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := st.NetNS(ctx, "model-0")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(owned.Containers, svc.ContainerID) || !slices.Contains(owned.Roots, models.HostPath) ||
		!slices.ContainsFunc(owned.Processes, func(p procfs.Ident) bool { return p.PID == ns.PID && p.Start == ns.PIDStart }) {
		t.Fatalf("owned %+v misses model-0 (%s, %s, pid %d)", owned, svc.ContainerID, models.HostPath, ns.PID)
	}
	if other, err := (dockerhost.Prover{}).Owned(ctx, map[string]string{stack.LabelRun: "rnobody"}); err != nil || len(other.Containers)+len(other.Roots) != 0 {
		t.Fatalf("another run owns %+v (%v)", other, err)
	}
	sc := stack.Scope{Run: st.RunID(), Labels: labels, Verify: true}
	for _, p := range []string{"/etc/passwd", filepath.Dir(models.HostPath)} {
		if err := sc.OwnsPath(ctx, p); !errors.Is(err, stack.ErrUntrusted) {
			t.Errorf("OwnsPath(%s) = %v, want ErrUntrusted", p, err)
		}
	}
	if err := sc.OwnsPath(ctx, filepath.Join(models.HostPath, "config.json")); err != nil {
		t.Errorf("a file in the run's models volume: %v", err)
	}

	state := t.TempDir()
	j, err := chaos.OpenJournal(chaos.WithStateDir(state))
	if err != nil {
		t.Fatal(err)
	}
	f := chaostest.Plan(t, chaos.Env{Stack: st, Journal: j}, container.KindRemove, nil, "model-0")
	if _, err := f.Inject(ctx); err != nil { // its revert is never called: the drill "crashed"
		t.Fatal(err)
	}
	recs, err := j.List()
	if err != nil || len(recs) != 1 || !recs[0].Sealed {
		t.Fatalf("journal: %d records, want 1 sealed (%v)", len(recs), err)
	}
	b, err := os.ReadFile(filepath.Join(j.Dir(), recs[0].ID+".json"))
	if err != nil || bytes.Contains(b, []byte(canary)) || bytes.Contains(b, []byte("AIUPTIME_CANARY")) {
		t.Fatalf("the journal holds the container's environment in clear (%v):\n%s", err, b)
	}

	// A record claiming another run cannot touch this run's container.
	other := t.TempDir()
	oj, err := chaos.OpenJournal(chaos.WithStateDir(other))
	if err != nil {
		t.Fatal(err)
	}
	chaostest.Plant(t, oj, chaos.Record{RunID: "rnobody", Reverter: dockerhost.UndoEnsure, Target: "model-0"},
		map[string]string{"container_id": "", "name": "aiuptime-" + st.RunID() + "-gateway"})
	if res, err := chaos.Replay(ctx, oj.Dir()); !errors.Is(err, chaos.ErrQuarantined) || len(res.Quarantined) != 1 {
		t.Fatalf("replay of another run's record on this run's gateway: %+v %v", res, err)
	}

	res, err := chaos.Replay(ctx, j.Dir(), chaos.WithRun(st.RunID()), chaos.WithForce())
	if err != nil || len(res.Reverted) != 1 {
		t.Fatalf("replay: %+v %v", res, err)
	}
	env, err := containerEnv(ctx, st, "model-0")
	if err != nil || !slices.Contains(env, "AIUPTIME_CANARY="+canary) {
		t.Fatalf("recreated model-0 lost its environment: %v %v", env, err)
	}
	stacktest.WaitHealth(t, svcURL(ctx, t, st), 200, time.Minute)
}

// containerEnv is the environment of the service's container as Docker
// has it now.
func containerEnv(ctx context.Context, st *containers.Stack, service string) ([]string, error) {
	svc, err := st.Service(ctx, service)
	if err != nil {
		return nil, err
	}
	ins, err := st.Client().ContainerInspect(ctx, svc.ContainerName)
	if err != nil {
		return nil, err
	}
	return ins.Config.Env, nil
}

func svcURL(ctx context.Context, t *testing.T, st *containers.Stack) string {
	t.Helper()
	svc, err := st.Service(ctx, "model-0")
	if err != nil {
		t.Fatal(err)
	}
	return svc.URL
}
