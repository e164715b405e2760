// Package distac reads fine-tuned checkpoints, forms their task vectors
// (tau_t = theta_t - theta_0) and merges them with the methods of the DisTaC
// paper's evaluation: mean, task arithmetic, TIES, Consensus/TALL, TSV-M,
// Iso-C, Iso-CTS and DARE.
//
// Checkpoints are safetensors files (single or sharded through
// model.safetensors.index.json) read over mmap; tensors stream through the
// ffi backend a chunk at a time and their pages are released once consumed,
// so a merge of T models needs memory for T+2 chunks per worker (element-wise
// methods) or, per worker, one matrix's task vector at a time plus its SVD's
// float64 workspace and the kept factors (SVD methods), never for whole
// models. Outputs are written to a temporary file next to the target and
// renamed into place only when every tensor is written and synced: a failed
// merge leaves nothing behind.
package distac
