package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/chaos/chaosmesh"
	"github.com/aiuptime/aiuptime/kube/local"
	"github.com/aiuptime/aiuptime/stack/kubernetes"
)

// meshLeftovers lists the drill's Chaos Mesh objects (label
// aiuptime.io/managed-by=aiuptime) in the clusters the journal's Chaos
// Mesh records name and in the whole local clusters of `drill kube up`
// (of runID, if set).
func meshLeftovers(ctx context.Context, stateDir, runID string) ([]chaosmesh.Leftover, error) {
	recs, _ := chaos.ListRecords(chaos.JournalDir(stateDir)) // unreadable records: doctor reports them
	conns := chaosmesh.ConnsOf(recs)
	clusters, err := local.AuditAll(filepath.Join(stateDir, "kube"))
	for _, c := range clusters {
		if !c.Leftover && c.Running > 0 {
			conns = append(conns, kubernetes.Conn{Kubeconfig: filepath.Join(c.Dir, "kubeconfig")})
		}
	}
	ls, lerr := chaosmesh.FindLeftovers(ctx, conns)
	out := ls[:0]
	for _, l := range ls {
		if runID == "" || l.Run == runID {
			out = append(out, l)
		}
	}
	return out, errors.Join(err, lerr)
}

// meshFindings are the leftover Chaos Mesh objects as doctor findings
// (grouped by run with the rest: a live run's are in force on purpose).
func meshFindings(ctx context.Context, stateDir, runID string) ([]chaos.Finding, error) {
	ls, err := meshLeftovers(ctx, stateDir, runID)
	fs := make([]chaos.Finding, len(ls))
	for i, l := range ls {
		fs[i] = l.Finding()
	}
	return fs, err
}

// removeMeshLeftovers deletes the drill's Chaos Mesh objects that the
// journal replay did not (their record is gone) and whose run no live
// drill holds (with --run --force, that run's even so).
func removeMeshLeftovers(ctx context.Context, out io.Writer, a cleanupArgs) error {
	ls, err := meshLeftovers(ctx, a.stateDir, a.run)
	live := liveRuns(a.stateDir)
	var errs []error
	for _, l := range ls {
		if who, ok := live[l.Run]; ok && !(a.force && l.Run == a.run) {
			fmt.Fprintf(out, "left alone   %s %s/%s: run %s is live (%s)\n", l.Kind, l.Namespace, l.Name, l.Run, who)
			continue
		}
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		d, rerr := l.Remove(dctx)
		cancel()
		if rerr != nil {
			errs = append(errs, fmt.Errorf("chaos mesh %s %s/%s: %w", l.Kind, l.Namespace, l.Name, rerr))
			continue
		}
		fmt.Fprintf(out, "removed      chaos mesh %s %s/%s (run %s)", l.Kind, l.Namespace, l.Name, orDash(l.Run))
		if len(d.RemovedFinalizers) > 0 {
			fmt.Fprintf(out, ": no controller cleared its finalizers %v, removed them", d.RemovedFinalizers)
		}
		fmt.Fprintln(out)
	}
	return errors.Join(append(errs, err)...)
}
