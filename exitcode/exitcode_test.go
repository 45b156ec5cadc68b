package exitcode

import (
	"errors"
	"fmt"
	"testing"
)

type planErr struct{}

func (planErr) Error() string { return "plan.yaml:3:5: steps: required" }
func (planErr) ExitCode() int { return Usage }

func TestOf(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want int
	}{
		{"nil passes", nil, Pass},
		{"wrapped", Wrap(Revert, errors.New("revert failed")), Revert},
		{"deep in a chain", fmt.Errorf("run: %w", Wrap(Aborted, errors.New("signal"))), Aborted},
		{"a coder from another package", fmt.Errorf("load: %w", planErr{}), Usage},
		{"outermost code wins", Wrap(Harness, fmt.Errorf("x: %w", planErr{})), Harness},
		{"no code: fallback", errors.New("plain"), Harness},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Of(tc.err, Harness); got != tc.want {
				t.Fatalf("Of = %d, want %d", got, tc.want)
			}
		})
	}
	if Wrap(Fail, nil) != nil {
		t.Fatal("Wrap(nil) must stay nil")
	}
}
