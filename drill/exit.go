package drill

import "errors"

// Exit codes of a drill run, fixed by the command-line contract.
const (
	ExitPass    = 0 // every SLO met and every step as expected
	ExitFail    = 1 // an SLO was breached or a step's hypothesis deviated
	ExitUsage   = 2 // bad usage or invalid plan
	ExitHarness = 3 // harness, stack or injection error
	ExitRevert  = 4 // a revert failed: something may be left behind
	ExitAborted = 5 // aborted by a stop condition or a signal
)

// Sentinels a caller can branch on with errors.Is.
var (
	// ErrSLOBreached is returned when the drill ran but failed its SLOs or
	// a step's hypothesis.
	ErrSLOBreached = errors.New("drill failed its objectives")
	// ErrAborted is returned when a stop condition or a signal aborted the drill.
	ErrAborted = errors.New("drill aborted")
)

// ExitError carries the process exit code a drill outcome asks for.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// ExitCode returns the exit code (read through errors.As by the CLI).
func (e *ExitError) ExitCode() int { return e.Code }

func exitErr(code int, err error) error {
	if err == nil {
		return nil
	}
	return &ExitError{Code: code, Err: err}
}
