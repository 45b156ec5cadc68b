package backup

import (
	"context"
	"strings"
	"testing"

	"github.com/aiuptime/aiuptime/reports"
	"github.com/aiuptime/aiuptime/stack"
)

// podStack is a provider that, like kubernetes, can stop a service but not
// start one. Only Kind, Ops and Act are implemented: any other call panics,
// so the test also proves the restore asked nothing else of it.
type podStack struct {
	stack.Stack
	stack.Lifecycle
	acts []stack.Op
}

func (p *podStack) Kind() string    { return "kubernetes" }
func (p *podStack) Ops() []stack.Op { return []stack.Op{stack.OpKill, stack.OpStop, stack.OpRestart} }
func (p *podStack) Act(_ context.Context, _ string, a stack.Action) error {
	p.acts = append(p.acts, a.Op)
	return nil
}

// A gateway that could be stopped but never started again keeps running
// with its data: the restore stops nothing, measures no RPO, and the report
// says why.
func TestDataRestoreNeedsStopAndStart(t *testing.T) {
	p := &podStack{}
	r := &restore{ctx: t.Context(), st: p, lc: p, o: newOptions(nil), dr: &reports.DR{},
		m: &Manifest{Sources: []SourceInfo{{Name: SourceGatewayDB, From: "/data/gateway.db"}}}}
	if err := r.data(); err != nil {
		t.Fatalf("data: %v", err)
	}
	if len(p.acts) != 0 {
		t.Fatalf("the gateway was acted on (%v) though it could not be started again", p.acts)
	}
	if r.dr.RPORows != nil || r.dr.RPOSeconds != nil {
		t.Fatalf("an RPO was reported for data that was not restored: %v rows", *r.dr.RPORows)
	}
	if len(r.dr.Notes) != 1 || !strings.Contains(r.dr.Notes[0], "gateway data not restored") || !strings.Contains(r.dr.Notes[0], "kubernetes") {
		t.Fatalf("notes %q do not say why the data was not restored", r.dr.Notes)
	}
}
