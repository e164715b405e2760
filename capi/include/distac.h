/*
 * distac.h — libdistac, distac's C API: merge, diagnose and condition
 * fine-tuned models from C and C++ hosts, and merge tensors a host holds in
 * memory. Plain C11, usable from C++ (extern "C").
 *
 * libdistac is built from Go (go build -buildmode=c-shared ./capi; CMake
 * does it, see README.md) and links as -ldistac: `pkg-config --cflags
 * --libs distac`, or the CMake target distac::distac. This header is the
 * contract; the header Go generates beside the library is not.
 *
 * RESULTS
 *   Every function that can fail returns DISTAC_OK (0) or a negative
 *   DISTAC_E_* code naming the class of failure. Where a function takes
 *   `char **error`, *error is set to NULL on success and to a message on
 *   failure: the message `distac` prints for the same failure, naming the
 *   file and the tensor. `error` may be NULL (no message). If memory for
 *   the message cannot be had, *error stays NULL and the code is
 *   DISTAC_E_NOMEM.
 *
 * OWNERSHIP
 *   - Strings the library returns through `char **` (messages, JSON) are
 *     the caller's: free each with distac_free (not free(): the library
 *     and the host may use different allocators).
 *   - Strings distac_version and distac_error_string return are static:
 *     never free them.
 *   - Strings the caller passes (configs, names) are read during the call
 *     and not kept.
 *   - Tensor buffers given to distac_merge_add stay the caller's. The
 *     library reads the base and task buffers and writes the output buffer
 *     in place, without copies, during distac_merge_finish: they must stay
 *     valid, and the inputs unchanged, from distac_merge_add until
 *     distac_merge_finish returns (or distac_merge_abort). The library
 *     keeps no pointer to them afterwards.
 *   - A pointer given to the library is NULL or the address of memory (not
 *     an integer cast to a pointer: Go's runtime may stop the process on a
 *     pointer below 4096).
 *
 * CONFIGS
 *   A config is YAML or JSON text (JSON is YAML), NUL-terminated: the
 *   schema of `distac merge --config` for distac_merge, the flags of
 *   `distac diagnose` and `distac condition` by key for the others (see
 *   each function). An unknown key is DISTAC_E_ARG naming the keys there
 *   are. Relative paths in a config are relative to the process's working
 *   directory at the time of the call. Notes the CLI prints about a config
 *   (a deprecated key, a parameter of another method ignored) go to stderr,
 *   one line each, prefixed "distac".
 *
 * THREADS
 *   Every function may be called from any thread, and any number of calls
 *   may run at once: the library holds no global mutable state a call
 *   could see, and calls on different files or in-memory merges do not
 *   interact. (Two merges writing one output: one of them fails with
 *   DISTAC_E_EXISTS, as two `distac merge` processes would.) Calls on one
 *   in-memory merge are serialised by the library; distac_merge_cancel may
 *   be called from any thread while distac_merge_finish runs. The library
 *   runs its work on threads of its own (the Go runtime's, one per CPU by
 *   default; GOMAXPROCS in the environment bounds them); results do not
 *   depend on their number.
 *
 * PANICS AND SIGNALS
 *   A Go panic never crosses into the caller: one in the calling thread,
 *   or in the merge's or the conditioning's workers, is recovered and
 *   returned as DISTAC_E_INTERNAL with a message holding the stack (a bug:
 *   please report it).
 *   What Go cannot recover from (the process out of memory, a fault in C
 *   code) ends the process, as it would end a Go program. The library
 *   installs no handler for SIGINT/SIGTERM (the host's stay in charge); the
 *   Go runtime handles SIGSEGV/SIGBUS in its own code (a truncated input
 *   file is an error, not a crash) and passes others on.
 *
 * INITIALISATION
 *   The Go runtime starts when the library is loaded, once per process.
 *   No call is needed before the others. distac_init (optional) checks
 *   that the loaded library is compatible with this header; it may be
 *   called any number of times, from any thread, and a second call does
 *   nothing more than the first: it returns the same result. There is no
 *   shutdown: the library cannot be unloaded (dlclose leaves it in place).
 *
 * VERSIONS AND ABI
 *   DISTAC_VERSION_MAJOR.MINOR.PATCH is the library's semantic version,
 *   distac_version() the loaded one's. MAJOR changes when a function is
 *   removed or its signature or meaning changes, MINOR when one is added,
 *   PATCH for fixes. While MAJOR is 0, MINOR plays MAJOR's part (a 0.MINOR
 *   change may break the ABI). The shared library's soname carries the
 *   part that breaks: libdistac.so.0.MINOR now, libdistac.so.MAJOR from 1.0
 *   on, so a program never loads a library it is incompatible with. Changes
 *   are listed in README.md.
 */
#ifndef DISTAC_H
#define DISTAC_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DISTAC_VERSION_MAJOR 0
#define DISTAC_VERSION_MINOR 1
#define DISTAC_VERSION_PATCH 1
#define DISTAC_VERSION_STRING "0.1.1"

/* ---------------------------------------------------------------- codes ---
 * 0 is success (the same value and name as the kernels' DISTAC_OK). */
#ifndef DISTAC_OK
#define DISTAC_OK 0
#endif
/* A bad argument: NULL where a value is needed, a config that does not
 * parse, an unknown key, method or backend, a value out of range, options
 * that do not fit together, an output that is one of the inputs; also any
 * failure of no more specific class (the message says what). */
#define DISTAC_E_ARG (-1)
/* Memory ran out: a buffer, a kernel's scratch, a message. */
#define DISTAC_E_NOMEM (-2)
/* A bad input file: a checkpoint that is not valid safetensors (truncated,
 * a broken header, overlapping offsets, an unknown dtype), an index that
 * does not agree with its shards, models that do not match (a tensor
 * missing, of another shape or dtype), a data file that does not decode. */
#define DISTAC_E_INPUT (-3)
/* The file system: a missing file or directory, no permission, a full
 * disk, a built-in data set not installed. */
#define DISTAC_E_IO (-4)
/* A numerical failure: NaN or Inf in a task vector or the base, a merged
 * value the output dtype cannot hold, a loss or weights that diverged. */
#define DISTAC_E_NUMERIC (-5)
/* Stopped by distac_merge_cancel or a progress callback. */
#define DISTAC_E_CANCELLED (-6)
/* The output exists (a config's `force: true` replaces it). */
#define DISTAC_E_EXISTS (-7)
/* A bug: a panic recovered at the boundary. */
#define DISTAC_E_INTERNAL (-8)

/* "MAJOR.MINOR.PATCH" of the loaded library. Static storage. */
const char *distac_version(void);

/* A short name for a code: "ok", "bad argument", "out of memory", "bad input
 * file", "I/O error", "numerical failure", "cancelled", "output exists",
 * "internal error", or "unknown code". Static storage. */
const char *distac_error_string(int code);

/* Frees a string the library returned (NULL is a no-op). */
void distac_free(void *p);

/* Checks that the loaded library is compatible with a header of version
 * major.minor (pass DISTAC_VERSION_MAJOR and DISTAC_VERSION_MINOR, or use
 * DISTAC_INIT): its MAJOR is major and its MINOR at least minor (while
 * MAJOR is 0, MINOR equal to minor). DISTAC_E_ARG with a message naming
 * both versions otherwise. Idempotent; see INITIALISATION above. */
int distac_init(int major, int minor, char **error);
#define DISTAC_INIT(error) distac_init(DISTAC_VERSION_MAJOR, DISTAC_VERSION_MINOR, (error))

/* ------------------------------------------------------------ on files ---
 * Each is the CLI command of its name on the same settings, with the same
 * results: distac_merge writes the bits `distac merge --config` writes. */

/* Merges checkpoints as `distac merge --config FILE` does, the config text
 * in place of FILE's, e.g.
 *   {"method": "ties", "base": "base.safetensors", "tasks": ["a.safetensors",
 *    "b.safetensors"], "alpha": 0.9, "k": 20, "out": "merged.safetensors"}
 * Keys: method, base, tasks, out, alpha, dtype, shard_size, mismatch
 * (error, base or common), backend, threads, force, quiet (no effect here),
 * and the methods' parameters (k, lambda, min_agree, common_fraction, drop,
 * seed, steps, lr, weights, base_weight, density, normalize, rescale).
 * Methods: mean, ta, ties, consensus, tsvm, isoc, isocts, dare, wudi, emr,
 * and mergekit's linear, task_arithmetic, mergekit_ties, dare_ties,
 * dare_linear. emr also writes its per-task modulators beside the output,
 * OUT.modulators.safetensors (OUT without its .safetensors suffix; format
 * in README.md), which `distac eval --modulators` applies.
 * A config in mergekit's schema (merge_method, base_model, models with
 * weight and density, parameters, dtype; paths relative to the working
 * directory) is read as `distac merge --config` reads it. mergekit's
 * configs name no output: give distac's `out` key beside mergekit's keys
 * (force, shard_size, mismatch, backend, threads and quiet may stand there
 * too); without it the call is DISTAC_E_ARG. The output is whole or absent,
 * as the CLI writes it. */
int distac_merge(const char *config, char **error);

/* Task-vector norms, their max/min ratio and pairwise cosines, as
 * `distac diagnose --json`. Keys: base, tasks, warn_ratio (default 2),
 * per_tensor (default false), mismatch (error, the default; base: leave
 * out tensors some tasks lack or hold in another shape; common: measure
 * the rows every model has; the report's "mismatches" says what was done
 * per tensor), backend, threads. *json (when json is not NULL) receives
 * the report, the CLI's --json text. */
int distac_diagnose(const char *config, char **json, char **error);

/* DisTaC conditioning as `distac condition --json`. Keys: the command's
 * flags with "-" written "_" and the repeated ones plural: base, tasks,
 * heads, data, eval, outs or out_dir, model_config, prefix, backend,
 * threads, max_images, max_pixels, dtype, force, kappa, target_norm,
 * stretch, confidence, t_tcr, t_stu, beta, lr, steps, batch, warmup, clip,
 * parallel_tasks, seed; heads, data and eval take one value for all tasks
 * or a list of one per task. *json receives the report. */
int distac_condition(const char *config, char **json, char **error);

/* ----------------------------------------------------------- in memory ---
 * A merge over tensors the caller holds (a trainer's weights): begin, add
 * every tensor of the model with its base, task and output buffers, then
 * finish, which runs the whole-model passes (TIES's global thresholds,
 * every task vector's norm and NaN check) and the merge, writing every
 * output buffer. The output has the bits distac_merge writes for files
 * holding the same tensors, for every method: 2-D tensors whose name does
 * not contain "embed" are matrices for the SVD methods (tsvm, isoc,
 * isocts) and WUDI, as in files. emr writes its unified model into the
 * output buffers; its per-task scales lambda_t are in finish's JSON (no
 * modulators file: the masks are M_t = [tau_t * tau_uni > 0], which the
 * host can form from its own buffers). */

/* Names an in-memory merge; 0 is never one. Ids are not reused in a
 * process, so a stale one is DISTAC_E_ARG, never another merge. */
typedef uint64_t distac_merge_id;

/* Element types of tensors in memory (the values of the kernels'
 * distac_dtype). */
#define DISTAC_TENSOR_F32 0
#define DISTAC_TENSOR_F16 1  /* IEEE binary16 */
#define DISTAC_TENSOR_BF16 2 /* bfloat16: the top half of a binary32 */

/* Progress of distac_merge_finish. report is called with `done` of `total`
 * units of work (bytes read, SVD work weighed in) and user as it is, from
 * one of the library's threads, never twice at once. It returns 0 to go
 * on, anything else to cancel (finish then returns DISTAC_E_CANCELLED). It
 * may call distac_merge_cancel, no other function of this merge, and must
 * not throw or longjmp. The struct must stay valid until finish returns. */
typedef struct distac_progress {
  int (*report)(void *user, int64_t done, int64_t total);
  void *user;
} distac_progress;

/* Starts a merge of num_tasks (>= 1) task models into a base. config takes
 * distac_merge's keys that do not name files: method, alpha, dtype (the
 * output's; default: each tensor's own), threads, backend and the methods'
 * parameters (base, tasks, out, shard_size and force are DISTAC_E_ARG).
 * The method's parameters are checked against num_tasks now. *merge
 * receives the merge's id. */
int distac_merge_begin(const char *config, int num_tasks, distac_merge_id *merge, char **error);

/* Adds one tensor: its name (unique in the merge), dtype (DISTAC_TENSOR_*),
 * ndim dimensions shape[0..ndim) (row-major; ndim 0 is a scalar; shape may
 * be NULL when ndim is 0), the base's elements, tasks[0..num_tasks) the
 * task models' elements (all of that dtype and shape), and out, where
 * finish writes the merged elements in the output dtype (the config's
 * dtype, else this one). A buffer may be NULL only when the tensor has no
 * elements. Buffers must stay valid until finish or abort (OWNERSHIP).
 * Tensors are merged in the order added. */
int distac_merge_add(distac_merge_id merge, const char *name, int dtype, int ndim, const int64_t *shape,
                     const void *base, const void *const *tasks, void *out, char **error);

/* Runs the merge and ends it, whatever the result (the id is then
 * unknown). progress (may be NULL, as may its report) hears how far it got.
 * *json (when json is not NULL) receives the summary `distac merge --json`
 * gives (method, parameters, task norms, TIES thresholds; the checkpoints
 * named "memory:base", "memory:task0", ...). On error the output buffers
 * hold an unfinished result. */
int distac_merge_finish(distac_merge_id merge, const distac_progress *progress, char **json, char **error);

/* Asks a running distac_merge_finish to stop: it returns DISTAC_E_CANCELLED
 * soon after (between chunks of work). Before finish starts, the merge is
 * cancelled when it starts. DISTAC_OK, or DISTAC_E_ARG for an unknown id
 * (one that finished, say). Thread-safe. */
int distac_merge_cancel(distac_merge_id merge);

/* Ends a merge without running it (an unknown id, 0 included, is a no-op;
 * a merge whose finish is running is left to it). */
void distac_merge_abort(distac_merge_id merge);

#ifdef __cplusplus
}
#endif

#endif /* DISTAC_H */
