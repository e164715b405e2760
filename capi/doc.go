// Command capi is libdistac, distac's C API: built with
//
//	go build -buildmode=c-shared -o libdistac.so ./capi
//
// (CMake's libdistac target adds the soname and the export list), it is a
// shared library whose contract is the hand-written include/distac.h. The
// functions there run the library as the CLI runs it: distac_merge is
// `distac merge --config` on a config string (merge.OptionsFromConfig,
// merge.Run), distac_diagnose and distac_condition return the --json
// reports (merge.Diagnose, train.RunConditionJob), and the in-memory merge
// runs merge.RunMemory over the caller's buffers.
//
// The Go code is in files without cgo (jobs.go, session.go, errors.go),
// tested by go test; exports.go converts at the boundary and recovers
// panics; helpers.c holds what is plain C (the version, the code names,
// distac_free, distac_init).
package main

func main() {} // a c-shared library's main is never run
