package main

/*
#cgo CFLAGS: -std=c11 -I${SRCDIR}/include
#include <stdlib.h>
#include "capi.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/nlpodyssey/safetensors"

	"github.com/distac/distac/distac/checkpoint"
	"github.com/distac/distac/ffi"
)

// The boundary: C values in, Go calls, codes and C strings out. Every
// export runs its Go work through protect, so a panic becomes
// DISTAC_E_INTERNAL and a message, never a crash of the host.

// The header's codes are this package's, or this does not compile: the
// only index into a one-element array is 0.
func _() {
	var x [1]struct{}
	_ = x[C.DISTAC_E_ARG-codeArg]
	_ = x[C.DISTAC_E_NOMEM-codeNoMem]
	_ = x[C.DISTAC_E_INPUT-codeInput]
	_ = x[C.DISTAC_E_IO-codeIO]
	_ = x[C.DISTAC_E_NUMERIC-codeNumeric]
	_ = x[C.DISTAC_E_CANCELLED-codeCancelled]
	_ = x[C.DISTAC_E_EXISTS-codeExists]
	_ = x[C.DISTAC_E_INTERNAL-codeInternal]
}

// cString copies s into C memory for the host to distac_free; nil when
// memory is out.
func cString(s []byte) *C.char {
	var p *C.char
	if len(s) > 0 {
		p = (*C.char)(unsafe.Pointer(&s[0]))
	}
	return C.capi_strdup(p, C.size_t(len(s)))
}

// finish sets *errOut (when not NULL) and returns err's code.
func finish(cmd string, errOut **C.char, err error) C.int {
	code := classify(err)
	if errOut != nil {
		*errOut = nil
		if err != nil {
			if *errOut = cString([]byte(message(cmd, err))); *errOut == nil {
				return C.DISTAC_E_NOMEM
			}
		}
	}
	return C.int(code)
}

// withJSON runs fn and hands its text to *jsonOut (when not NULL).
func withJSON(cmd string, jsonOut, errOut **C.char, fn func() ([]byte, error)) C.int {
	if jsonOut != nil {
		*jsonOut = nil
	}
	var text []byte
	err := protect(func() (err error) { text, err = fn(); return err })
	if err == nil && jsonOut != nil {
		if *jsonOut = cString(text); *jsonOut == nil {
			err = fmt.Errorf("the report: %w", ffi.ErrOutOfMemory)
		}
	}
	return finish(cmd, errOut, err)
}

// fromConfig is run over the config argument as a Go string.
func fromConfig(config *C.capi_cchar, run func(string) ([]byte, error)) func() ([]byte, error) {
	return func() ([]byte, error) {
		text, err := goConfig(config)
		if err != nil {
			return nil, err
		}
		return run(text)
	}
}

// goConfig is a config argument as a Go string.
func goConfig(config *C.capi_cchar) (string, error) {
	if config == nil {
		return "", argument(errors.New("config is NULL"))
	}
	return C.GoString((*C.char)(unsafe.Pointer(config))), nil
}

//export distac_merge
func distac_merge(config *C.capi_cchar, errOut **C.char) C.int {
	return finish("merge", errOut, protect(func() error {
		text, err := goConfig(config)
		if err != nil {
			return err
		}
		return runMerge(text)
	}))
}

//export distac_diagnose
func distac_diagnose(config *C.capi_cchar, jsonOut, errOut **C.char) C.int {
	return withJSON("diagnose", jsonOut, errOut, fromConfig(config, runDiagnose))
}

//export distac_condition
func distac_condition(config *C.capi_cchar, jsonOut, errOut **C.char) C.int {
	return withJSON("condition", jsonOut, errOut, fromConfig(config, runCondition))
}

//export distac_merge_begin
func distac_merge_begin(config *C.capi_cchar, numTasks C.int, id *C.distac_merge_id, errOut **C.char) C.int {
	return finish("merge", errOut, protect(func() error {
		if id == nil {
			return argument(errors.New("merge is NULL"))
		}
		*id = 0
		text, err := goConfig(config)
		if err != nil {
			return err
		}
		n, err := beginMerge(text, int(numTasks))
		*id = C.distac_merge_id(n)
		return err
	}))
}

// tensorDTypes are distac.h's DISTAC_TENSOR_* values.
var tensorDTypes = map[C.int]checkpoint.DType{
	C.DISTAC_TENSOR_F32: safetensors.F32, C.DISTAC_TENSOR_F16: safetensors.F16, C.DISTAC_TENSOR_BF16: safetensors.BF16,
}

// maxDims bounds ndim: a check on the argument, far above any model's.
const maxDims = 64

//export distac_merge_add
func distac_merge_add(id C.distac_merge_id, name *C.capi_cchar, dtype C.int, ndim C.int, shape *C.capi_cint64,
	base *C.capi_cvoid, tasks *C.capi_cptr, out unsafe.Pointer, errOut **C.char) C.int {
	return finish("merge", errOut, protect(func() error {
		m, err := lookupMerge(uint64(id))
		if err != nil {
			return err
		}
		t := memTensor{}
		if name == nil {
			return argument(errors.New("a tensor's name is NULL"))
		}
		t.name = C.GoString((*C.char)(unsafe.Pointer(name)))
		dt, ok := tensorDTypes[dtype]
		if !ok {
			return argument(fmt.Errorf("tensor %q: dtype %d (want DISTAC_TENSOR_F32, _F16 or _BF16)", t.name, int(dtype)))
		}
		t.dtype = dt
		if ndim < 0 || ndim > maxDims || (ndim > 0 && shape == nil) {
			return argument(fmt.Errorf("tensor %q: %d dimensions (want 0 to %d, with a shape)", t.name, int(ndim), maxDims))
		}
		if ndim > 0 {
			for _, d := range unsafe.Slice(shape, int(ndim)) {
				if d < 0 {
					return argument(fmt.Errorf("tensor %q: a negative dimension %d", t.name, int64(d)))
				}
				t.shape = append(t.shape, uint64(d))
			}
		}
		numel, err := checkpoint.NumElements(t.shape)
		if err != nil || numel > (1<<62)/dt.Size() {
			return argument(fmt.Errorf("tensor %q: shape %v is too large", t.name, t.shape))
		}
		size := int(numel * dt.Size())
		bytesAt := func(p unsafe.Pointer, n int, what string) ([]byte, error) {
			if n == 0 {
				return nil, nil
			}
			if p == nil {
				return nil, argument(fmt.Errorf("tensor %q: the %s buffer is NULL", t.name, what))
			}
			return unsafe.Slice((*byte)(p), n), nil
		}
		if t.base, err = bytesAt(unsafe.Pointer(base), size, "base"); err != nil {
			return err
		}
		if tasks == nil {
			return argument(fmt.Errorf("tensor %q: tasks is NULL", t.name))
		}
		for i, p := range unsafe.Slice(tasks, len(m.tasks)) {
			b, err := bytesAt(unsafe.Pointer(p), size, fmt.Sprintf("task %d", i))
			if err != nil {
				return err
			}
			t.tasks = append(t.tasks, b)
		}
		if t.out, err = bytesAt(out, outBytes(t, m), "output"); err != nil {
			return err
		}
		return addTensor(uint64(id), t)
	}))
}

//export distac_merge_finish
func distac_merge_finish(id C.distac_merge_id, progress *C.capi_cprogress, jsonOut, errOut **C.char) C.int {
	var fn func(done, total int64) bool
	// The host's user pointer is never read in Go: it may be any value,
	// which Go must not take for a pointer of its own.
	if progress != nil && progress.report != nil {
		fn = func(done, total int64) bool {
			return C.capi_call_progress(progress, C.int64_t(done), C.int64_t(total)) != 0
		}
	}
	return withJSON("merge", jsonOut, errOut, func() ([]byte, error) { return finishMerge(uint64(id), fn) })
}

//export distac_merge_cancel
func distac_merge_cancel(id C.distac_merge_id) C.int {
	return C.int(classify(protect(func() error { return cancelMerge(uint64(id)) })))
}

//export distac_merge_abort
func distac_merge_abort(id C.distac_merge_id) {
	_ = protect(func() error { abortMerge(uint64(id)); return nil })
}
