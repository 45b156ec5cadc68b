package plan

import (
	"fmt"

	"github.com/aiuptime/aiuptime/internal/yamldoc"
	"github.com/aiuptime/aiuptime/stack"
)

// Error is one problem in a plan at file:line:col with its field; it
// carries exit code 2.
type Error = yamldoc.Error

// Errors is every problem found in a plan, in file order.
type Errors = yamldoc.Errors

// LoadFile reads, decodes and validates the plan file at path (without a
// stack: CheckStack adds that). A path that does not exist, is not a
// regular file or holds more than yamldoc.MaxBytes is an error.
func LoadFile(path string) (*Plan, error) {
	b, err := yamldoc.ReadFile(path, "plan file")
	if err != nil {
		return nil, err
	}
	return Parse(path, b)
}

// Parse decodes data strictly (unknown keys are errors) and validates it.
// file names the source in errors. Every error is an *Error or Errors with
// file:line:col and the field; the plan comes back with Errors too, for
// tools that want to show what decoded.
func Parse(file string, data []byte) (*Plan, error) {
	d, err := yamldoc.Parse(file, data, "a plan")
	if err != nil {
		return nil, err
	}
	var p Plan
	if err := d.Decode(&p); err != nil {
		return nil, err
	}
	p.File, p.doc = file, d
	if errs := p.validate(); len(errs) > 0 {
		return &p, errs.Sorted()
	}
	return &p, nil
}

// CheckStack validates the plan against the stack it will run on: every
// fault's and action's capabilities, and every named target. Errors are
// placed in the plan file.
func (p *Plan) CheckStack(sh stack.Shape) error {
	if errs := p.checkStack(sh); len(errs) > 0 {
		return errs.Sorted()
	}
	return nil
}

// errorf is an error at the field path of the plan.
func (p *Plan) errorf(at yamldoc.Path, atKey bool, format string, args ...any) *Error {
	if p.doc == nil {
		return &Error{File: p.File, Field: at.String(), Msg: fmt.Sprintf(format, args...)}
	}
	return p.doc.Errorf(at, atKey, format, args...)
}
