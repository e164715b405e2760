// Package merge forms the task vectors of fine-tuned checkpoints
// (tau_t = theta_t - theta_0) and merges them with the methods of the DisTaC
// paper's evaluation (Methods: mean, task arithmetic, TIES, Consensus/TALL,
// TSV-M, Iso-C, Iso-CTS and DARE; mergekit's linear, task_arithmetic, ties,
// dare_ties and dare_linear with its per-tensor semantics, whose YAML configs
// ParseConfig also reads), or diagnoses them (Diagnose: norms and
// cosines, the numbers behind DisTaC's norm-mismatch failure).
//
// Each method is defined once (methods.go): its parameters with defaults
// and rules, its metadata, and its per-chunk and per-matrix work; the CLI's
// flags and the YAML/JSON config derive from the definitions.
//
// Checkpoints are read over mmap (package checkpoint); tensors stream
// through the ffi backend a chunk at a time (the backend chooses the size)
// and their pages are released once consumed, so a merge of T models needs
// memory for T+2 chunks per worker (element-wise methods) or, per worker,
// one matrix's task vector at a time plus its SVD's float64 workspace and
// the kept factors (matrix methods), or T float32 copies of one tensor
// (tensor methods: mergekit's), never for whole models. Reductions
// (sums of squares, TIES's histograms) stay on the backend and are read back
// once per tensor or pass. Outputs are written to a temporary file next to
// the target and renamed into place only when every tensor is written and
// synced: a failed merge leaves nothing behind.
package merge
