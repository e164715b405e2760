// Package checkpoint reads and writes model checkpoints in the safetensors
// format: single files or sharded models (model.safetensors.index.json), F32,
// F16 and BF16 tensors (and integer buffers carried as bytes), mapped into
// memory so that passes over many models read the page cache in place and
// release the pages they are done with (Pages). Outputs are written to
// temporary files beside their targets and renamed into place once complete
// and synced (Writer), so a failed write leaves nothing behind.
//
// Every error names the file and, where there is one, the tensor. The
// package knows nothing of models or merging: it is the leaf the other
// packages build on.
package checkpoint
