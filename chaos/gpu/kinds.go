package gpu

import (
	"context"
	"fmt"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/param"
	"github.com/aiuptime/aiuptime/stack"
)

// Fault kind names.
const (
	KindKill = "gpu-kill"
	KindHang = "gpu-hang"
)

var needs = []stack.Capability{stack.CapExec, stack.CapProcesses}

func init() {
	chaos.Register(chaos.Def[KillSpec]{
		Name:        KindKill,
		Description: "signal the target's GPU processes (the engine), found by nvidia-smi inside the service",
		Params: []param.Spec{
			{Name: "signal", Type: param.Signal, Default: "KILL", Doc: "signal sent to each GPU process"},
		},
		Needs:      needs,
		Mechanisms: []string{MechSignal},
		Instant:    true,
		Decode:     func(v param.Values) (KillSpec, error) { return KillSpec{Signal: v.Signal("signal")}, nil },
		Build: func(_ context.Context, env chaos.Env, svc stack.Service, s KillSpec) (chaos.Fault, error) {
			return &Kill{Spec: s, Service: svc.Name, Stack: env.Stack, Deps: env.Deps()}, nil
		},
	})
	chaos.Register(chaos.Def[struct{}]{
		Name:        KindHang,
		Description: "SIGSTOP the target's GPU processes: requests hang while health may stay green; revert SIGCONT",
		Needs:       needs,
		Mechanisms:  []string{MechSignal},
		Decode:      func(param.Values) (struct{}, error) { return struct{}{}, nil },
		Build: func(_ context.Context, env chaos.Env, svc stack.Service, _ struct{}) (chaos.Fault, error) {
			return &Hang{Service: svc.Name, Stack: env.Stack, Deps: env.Deps()}, nil
		},
		Audit: auditStopped,
	})
}

// auditStopped reports processes of the service left stopped (state T).
func auditStopped(ctx context.Context, env chaos.Env, svc stack.Service) []chaos.Finding {
	ps, err := env.Stack.(stack.Processes).Processes(ctx, svc.Name)
	if err != nil {
		return nil
	}
	var fs []chaos.Finding
	for _, p := range ps {
		if p.State == "T" {
			fs = append(fs, chaos.Finding{What: "stopped-process", Where: svc.Name,
				Detail: fmt.Sprintf("host pid %d (%s) is stopped (state T): kill -CONT", p.HostPID, p.Cmdline)})
		}
	}
	return fs
}
