package recovery

import (
	"testing"
	"time"
)

// TestBoundProcessBack: a server cannot be ready or serve a token before
// its process is back; a process listing returning late moves "process
// back" to the first answer, and nothing else.
func TestBoundProcessBack(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	phases := func(back, ready, token Phase) []Phase {
		return []Phase{measured(PhaseDetected, at(100)), back, notMeasured(PhaseModelLoaded, "-"), ready, token,
			measured(PhaseInRotation, at(9000))}
	}
	for _, tc := range []struct {
		name               string
		back, ready, token Phase
		wantStatus         string
		wantAt             time.Time
	}{
		{"listing late: ready first", measured(PhaseProcessBack, at(6270)), measured(PhaseReady, at(6210)), measured(PhaseFirstToken, at(6300)), Measured, at(6210)},
		{"listing late: token first", measured(PhaseProcessBack, at(6270)), measured(PhaseReady, at(6290)), measured(PhaseFirstToken, at(6250)), Measured, at(6250)},
		{"in order: unchanged", measured(PhaseProcessBack, at(5800)), measured(PhaseReady, at(5900)), measured(PhaseFirstToken, at(5950)), Measured, at(5800)},
		{"not measured stays so", notMeasured(PhaseProcessBack, "no listing"), measured(PhaseReady, at(5900)), measured(PhaseFirstToken, at(5950)), NotMeasured, time.Time{}},
		{"no answer: unchanged", measured(PhaseProcessBack, at(5800)), notMeasured(PhaseReady, "-"), notMeasured(PhaseFirstToken, "-"), Measured, at(5800)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps := phases(tc.back, tc.ready, tc.token)
			boundProcessBack(ps)
			if ps[1].Status != tc.wantStatus || !ps[1].At.Equal(tc.wantAt) {
				t.Errorf("process back = %s at %v, want %s at %v", ps[1].Status, ps[1].At, tc.wantStatus, tc.wantAt)
			}
		})
	}
}
