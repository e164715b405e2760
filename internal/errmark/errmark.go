// Package errmark marks an error as one of a package's sentinels without
// changing its message: errors.Is finds the sentinel, and the text stays the
// one that names the file and the tensor. Callers across an API (the C API
// maps sentinels to status codes) tell classes of failure apart this way.
package errmark

import (
	"errors"
	"fmt"
)

type marked struct {
	err, sentinel error
}

func (e marked) Error() string   { return e.err.Error() }
func (e marked) Unwrap() []error { return []error{e.sentinel, e.err} }

// As returns err marked as sentinel (nil stays nil; an error that already
// is sentinel is returned as it is).
func As(sentinel, err error) error {
	if err == nil || errors.Is(err, sentinel) {
		return err
	}
	return marked{err: err, sentinel: sentinel}
}

// ErrPanic is wrapped by the error a recovered panic becomes (Recovered):
// a bug in distac, never a bad input.
var ErrPanic = errors.New("internal error")

// Recovered is the error for a panic recovered with value r while doing
// what (a tensor, a task), with the stack where it happened: the process
// goes on, and the caller gets an error to report.
func Recovered(what string, r any, stack []byte) error {
	return marked{err: fmt.Errorf("internal error (a bug in distac; please report it with this message) %s: %v\n%s", what, r, stack), sentinel: ErrPanic}
}
