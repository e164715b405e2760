package main

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"image"
	"io"
	"io/fs"
	"os"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/distac/distac/distac/checkpoint"
	"github.com/distac/distac/distac/data"
	"github.com/distac/distac/distac/merge"
	"github.com/distac/distac/distac/train"
	"github.com/distac/distac/ffi"
	"github.com/distac/distac/internal/errmark"
)

// The codes of distac.h (exports.go checks at compile time that they are
// the header's).
const (
	codeOK        = 0
	codeArg       = -1
	codeNoMem     = -2
	codeInput     = -3
	codeIO        = -4
	codeNumeric   = -5
	codeCancelled = -6
	codeExists    = -7
	codeInternal  = -8
)

// errArgument marks what the C API itself refuses: a config that does not
// parse, a missing value, a buffer of the wrong size.
var errArgument = errors.New("bad argument")

// argument marks err as a bad argument (DISTAC_E_ARG).
func argument(err error) error { return errmark.As(errArgument, err) }

// classify is the code distac.h gives err: the sentinels of the packages
// that made it (errors.Is), then the standard library's errors for bad
// data and for the file system; DISTAC_E_ARG for the rest.
func classify(err error) int {
	switch {
	case err == nil:
		return codeOK
	case errors.Is(err, errmark.ErrPanic):
		return codeInternal
	case errors.Is(err, errArgument):
		return codeArg
	case errors.Is(err, merge.ErrCancelled), errors.Is(err, train.ErrCancelled),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return codeCancelled
	case errors.Is(err, ffi.ErrOutOfMemory):
		return codeNoMem
	case errors.Is(err, merge.ErrNonFinite), errors.Is(err, train.ErrNonFinite):
		return codeNumeric
	case errors.Is(err, checkpoint.ErrExists):
		return codeExists
	case isBadInput(err):
		return codeInput
	case isIO(err):
		return codeIO
	}
	return codeArg
}

// isBadInput reports a file that is not what it should be: a checkpoint
// (checkpoint.ErrMalformed), models that do not match (merge.ErrMismatch),
// or data that does not decode.
func isBadInput(err error) bool {
	var syntax *json.SyntaxError
	return errors.Is(err, checkpoint.ErrMalformed) || errors.Is(err, merge.ErrMismatch) ||
		errors.Is(err, image.ErrFormat) || errors.Is(err, gzip.ErrHeader) || errors.Is(err, gzip.ErrChecksum) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &syntax)
}

// isIO reports a failure of the file system (or a data set not installed).
func isIO(err error) bool {
	var (
		path  *fs.PathError
		link  *os.LinkError
		sys   *os.SyscallError
		errno syscall.Errno
	)
	return errors.Is(err, data.ErrNotInstalled) || errors.As(err, &path) || errors.As(err, &link) ||
		errors.As(err, &sys) || errors.As(err, &errno)
}

// message is err as the CLI prints it for command cmd: "distac merge: ...",
// without the library's own "merge: " in front.
func message(cmd string, err error) string {
	return "distac " + cmd + ": " + strings.TrimPrefix(err.Error(), cmd+": ")
}

// protect runs fn, turning a panic into an error (errmark.ErrPanic): the
// boundary every export runs its Go work through.
func protect(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = errmark.Recovered("in the C API", r, debug.Stack())
		}
	}()
	return fn()
}
