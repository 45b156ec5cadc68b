// Package exitcode holds the process exit codes of the command-line
// contract and the error type that carries one, read with errors.As the way
// k6's errext does. Every package that decides an outcome (a plan that does
// not validate, a revert that failed, an aborted drill) wraps its error with
// the code; the CLI prints the error and exits with Of(err).
package exitcode

import "errors"

// Exit codes, fixed by the command-line contract.
const (
	Pass    = 0 // every SLO met and every step as expected
	Fail    = 1 // an SLO was breached or a step's hypothesis deviated
	Usage   = 2 // bad usage, an invalid plan or stack file
	Harness = 3 // harness, stack or injection error
	Revert  = 4 // a revert failed: something may be left behind
	Aborted = 5 // aborted by a stop condition or a signal
)

// Coder is implemented by errors that know their exit code.
type Coder interface{ ExitCode() int }

// Error carries an exit code on an error.
type Error struct {
	Code int
	Err  error
}

// Error is the wrapped error's text.
func (e *Error) Error() string { return e.Err.Error() }

// Unwrap returns the wrapped error.
func (e *Error) Unwrap() error { return e.Err }

// ExitCode returns the code.
func (e *Error) ExitCode() int { return e.Code }

// Wrap attaches code to err; nil stays nil.
func Wrap(code int, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Code: code, Err: err}
}

// Of returns the exit code err carries (the outermost Coder in its chain):
// Pass for nil, fallback when nothing in the chain has a code.
func Of(err error, fallback int) int {
	if err == nil {
		return Pass
	}
	var c Coder
	if errors.As(err, &c) {
		return c.ExitCode()
	}
	return fallback
}
