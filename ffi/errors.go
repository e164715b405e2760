package ffi

import "errors"

// ErrOutOfMemory is wrapped by the error for an allocation that failed: a
// backend buffer, or a kernel's scratch (DISTAC_ENOMEM). A caller (the C
// API) tells it from a bad argument with errors.Is.
var ErrOutOfMemory = errors.New("out of memory")

// ErrNotImplemented is wrapped by the error of an op a backend does not
// have (a fused op the caller can run as its parts); it writes nothing.
var ErrNotImplemented = errors.New("not implemented")
