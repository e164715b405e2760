/*
 * runtime.c — CPU feature detection and the fork/join helper with its pool.
 * __builtin_cpu_supports checks the OS too (XGETBV): AVX-512 is reported only
 * where the kernel saves ZMM/opmask state. Off x86 only the scalar path is.
 *
 * distac_parallel_for runs its chunks on a pool of worker threads that is
 * started on first use and kept. Starting threads per call cost tens of
 * microseconds a thread on a VM, a fifth of a 256^3 GEMM; a kept worker
 * that is still spinning after its last chunk picks new work up in well
 * under a microsecond, one that went to sleep in a futex wake.
 *
 * The pool is the one piece of process-wide state in the kernels. It holds
 * no data and is invisible to results: chunks split the work exactly as
 * before, each kernel combines them in a fixed order, so which thread runs a
 * chunk, and when, never changes a bit. It is safe for any number of
 * concurrent callers (one mutex guards the queue of calls; each call's
 * chunks are handed out one at a time): a caller runs its own chunks until
 * none are left unclaimed, so it never waits for a chunk nobody has started,
 * and a chunk that calls distac_parallel_for itself cannot deadlock. The
 * pool grows to one worker per online CPU less one (the caller is the other),
 * never more, whatever `threads` asks for; if no worker can be started the
 * caller runs every chunk itself. Workers block all signals, so signals meant
 * for the host program (a Go runtime's, say) never land on them. After fork()
 * the child starts with an empty pool of its own.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

int distac_isa_supported(distac_isa isa) {
#if DISTAC_HAVE_X86
  __builtin_cpu_init();
  switch (isa) {
    case DISTAC_ISA_SCALAR:
      return 1;
    case DISTAC_ISA_AVX2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
             __builtin_cpu_supports("f16c");
    case DISTAC_ISA_AVX512:
      return distac_isa_supported(DISTAC_ISA_AVX2) && __builtin_cpu_supports("avx512f") &&
             __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
  }
  return 0;
#else
  return isa == DISTAC_ISA_SCALAR; /* the SIMD variants are x86 code (internal.h) */
#endif
}

distac_isa distac_isa_best(void) {
  if (distac_isa_supported(DISTAC_ISA_AVX512)) return DISTAC_ISA_AVX512;
  if (distac_isa_supported(DISTAC_ISA_AVX2)) return DISTAC_ISA_AVX2;
  return DISTAC_ISA_SCALAR;
}

const char *distac_isa_name(distac_isa isa) {
  switch (isa) {
    case DISTAC_ISA_SCALAR: return "scalar";
    case DISTAC_ISA_AVX2: return "avx2";
    case DISTAC_ISA_AVX512: return "avx512";
  }
  return "unknown";
}

int distac_default_threads(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n >= 1 ? (int)n : 1;
}

int distac_threads_for(int threads, int64_t n, int64_t grain) {
  if (threads <= 0) threads = distac_default_threads();
  if (grain < 1) grain = 1;
  int64_t most = n / grain;
  if (most < 1) most = 1;
  return most < threads ? (int)most : threads;
}

/* Written once under pthread_once, read-only after: not state that moves. */
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;
static int64_t cache_l1d = 32 << 10, cache_l2 = 1 << 20;

static void cache_detect(void) {
#if defined(_SC_LEVEL1_DCACHE_SIZE) && defined(_SC_LEVEL2_CACHE_SIZE)
  long l1d = sysconf(_SC_LEVEL1_DCACHE_SIZE), l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
  if (l1d >= (8 << 10) && l1d <= (1 << 20)) cache_l1d = l1d; /* else keep the fallback */
  if (l2 >= (128 << 10) && l2 <= (64 << 20)) cache_l2 = l2;
#endif
}

void distac_cache_sizes(int64_t *l1d, int64_t *l2) {
  pthread_once(&cache_once, cache_detect);
  *l1d = cache_l1d, *l2 = cache_l2;
}

/* Per-thread scratch (distac_scratch_get/put, internal.h): each thread keeps
 * one 64-byte-aligned block, grown on demand, for its next call. A fresh
 * block of a GEMM's packing scratch (7 MiB for a 768 x 2304 B) costs a page
 * fault per 4 KiB and the kernel's zeroing each time glibc hands the memory
 * back to the OS between calls: measured 10-20% of a 400 x 2304 x 768 GEMM.
 * The block is only this thread's (no locking); blocks over SCRATCH_KEEP and
 * a second request while the block is in use are plain allocations. The key
 * is created once; a thread's block is freed when the thread exits. */
#define SCRATCH_KEEP ((size_t)64 << 20)
#define SCRATCH_HDR ((size_t)64) /* the header's room, keeping the data aligned */

typedef struct {
  size_t bytes; /* usable bytes after the header */
  int busy;
} scratch_block;

static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static pthread_key_t scratch_key;
static int scratch_key_ok;

static void scratch_free(void *p) { free(p); }
static void scratch_make_key(void) { scratch_key_ok = pthread_key_create(&scratch_key, scratch_free) == 0; }

void *distac_scratch_get(size_t bytes) {
  bytes = (bytes + 63) / 64 * 64;
  if (bytes == 0) bytes = 64;
  pthread_once(&scratch_once, scratch_make_key);
  scratch_block *b = scratch_key_ok ? (scratch_block *)pthread_getspecific(scratch_key) : NULL;
  if (b && !b->busy && b->bytes >= bytes) {
    b->busy = 1;
    return (char *)b + SCRATCH_HDR;
  }
  if (!scratch_key_ok || bytes > SCRATCH_KEEP || (b && b->busy)) return aligned_alloc(64, bytes);
  if (b) { /* too small: replace it */
    if (pthread_setspecific(scratch_key, NULL) != 0) return aligned_alloc(64, bytes);
    free(b);
  }
  b = (scratch_block *)aligned_alloc(64, SCRATCH_HDR + bytes);
  if (!b) return NULL;
  b->bytes = bytes, b->busy = 1;
  if (pthread_setspecific(scratch_key, b) != 0) { /* cannot keep it: a plain block */
    free(b);
    return aligned_alloc(64, bytes);
  }
  return (char *)b + SCRATCH_HDR;
}

void distac_scratch_put(void *p) {
  if (!p) return;
  scratch_block *b = scratch_key_ok ? (scratch_block *)pthread_getspecific(scratch_key) : NULL;
  if (b && p == (char *)b + SCRATCH_HDR)
    b->busy = 0;
  else
    free(p);
}

/* How long an idle worker polls for new work before it sleeps, and how long
 * a caller polls for its last chunks before it sleeps: long enough to bridge
 * the gap between back-to-back kernel calls, short enough that an idle pool
 * costs a host program on the same cores nothing noticeable. A worker that
 * went to sleep costs the next call its wake-up (a futex wake and, on a VM,
 * an IPI to a halted vCPU: tens of microseconds, a third of a 256^3 GEMM);
 * 100 us was shorter than the gap between the GEMMs of a step or of a
 * paired benchmark (one OpenBLAS call between two of ours). Every 256 polls
 * the poller yields, so a thread that shares its CPU (the host's, another
 * process's) runs instead; on an otherwise idle CPU the yield returns at once. */
#define POOL_IDLE_SPIN_NS 500000
#define POOL_WAIT_SPIN_NS 50000

static inline void pool_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

static int64_t pool_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* One call of distac_parallel_for: chunk c covers [n*c/chunks, n*(c+1)/chunks).
 * It lives on the caller's stack; the caller returns only once every chunk
 * has finished, and nobody touches the job after finishing its last chunk. */
typedef struct pool_job {
  distac_range_fn fn;
  void *ctx;
  int64_t n;
  int chunks;
  int claimed;             /* chunks handed out (under pool.mu) */
  atomic_int finished;     /* chunks done */
  struct pool_job *next;   /* queue link (under pool.mu) */
} pool_job;

static struct {
  pthread_mutex_t mu;
  pthread_cond_t work;       /* a job was queued */
  pthread_cond_t done;       /* some job finished its last chunk */
  pool_job *head, *tail;     /* jobs with chunks left to hand out */
  int workers;               /* threads started */
  int sleeping;              /* workers waiting on `work` */
  int atfork;                /* the fork handlers are registered */
  atomic_uint pushes;        /* bumped per queued job: what spinning workers watch */
} pool = {.mu = PTHREAD_MUTEX_INITIALIZER, .work = PTHREAD_COND_INITIALIZER,
            .done = PTHREAD_COND_INITIALIZER};

/* Fork: hold the lock across fork() so the child copies a consistent pool,
 * then give the child a fresh, empty one (its parent's workers do not exist
 * there; jobs of other parent threads were theirs alone). */
static void pool_prefork(void) { pthread_mutex_lock(&pool.mu); }
static void pool_postfork_parent(void) { pthread_mutex_unlock(&pool.mu); }
static void pool_postfork_child(void) {
  pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
  pool.mu = mu, pool.work = cond, pool.done = cond;
  pool.head = pool.tail = NULL;
  pool.workers = pool.sleeping = 0;
  atomic_store(&pool.pushes, 0);
}

/* Takes the next chunk of queued job j, unlinking j once its last chunk is
 * out. Called with pool.mu held. The queue holds one job per concurrent
 * caller, so finding j's predecessor is a short walk. */
static int pool_claim(pool_job *j) {
  int c = j->claimed++;
  if (j->claimed == j->chunks) {
    pool_job **link = &pool.head, *prev = NULL;
    while (*link != j) prev = *link, link = &(*link)->next;
    *link = j->next;
    if (pool.tail == j) pool.tail = prev;
  }
  return c;
}

/* Runs chunk c of j and reports it done. Once the count is in, j may be gone
 * (its caller returns when it sees the last chunk done), so nothing of j is
 * read after the increment. */
static void pool_run(pool_job *j, int c) {
  const int chunks = j->chunks;
  j->fn(j->ctx, j->n * c / chunks, j->n * (c + 1) / chunks);
  if (atomic_fetch_add(&j->finished, 1) + 1 == chunks) {
    pthread_mutex_lock(&pool.mu); /* pairs with the caller's check-then-wait */
    pthread_cond_broadcast(&pool.done);
    pthread_mutex_unlock(&pool.mu);
  }
}

static void *pool_worker(void *arg) {
  (void)arg;
  pthread_mutex_lock(&pool.mu);
  for (;;) {
    pool_job *j = pool.head;
    if (j) {
      int c = pool_claim(j);
      pthread_mutex_unlock(&pool.mu);
      pool_run(j, c);
      pthread_mutex_lock(&pool.mu);
      continue;
    }
    /* Nothing queued: poll a while without the lock, then sleep. */
    unsigned seen = atomic_load(&pool.pushes);
    pthread_mutex_unlock(&pool.mu);
    int64_t until = pool_now_ns() + POOL_IDLE_SPIN_NS;
    for (int spin = 0; atomic_load(&pool.pushes) == seen; spin++) {
      pool_relax();
      if ((spin & 255) == 255) {
        if (pool_now_ns() > until) break;
        sched_yield();
      }
    }
    pthread_mutex_lock(&pool.mu);
    if (!pool.head) {
      pool.sleeping++;
      while (!pool.head) pthread_cond_wait(&pool.work, &pool.mu);
      pool.sleeping--;
    }
  }
  return NULL;
}

/* Grows the pool towards `want` workers (at most the online CPUs less one).
 * Called with pool.mu held; a failed start just leaves the pool smaller. */
static void pool_grow(int want) {
  if (!pool.atfork) {
    pool.atfork = 1;
    pthread_atfork(pool_prefork, pool_postfork_parent, pool_postfork_child);
  }
  int most = distac_default_threads() - 1;
  if (want > most) want = most;
  if (pool.workers >= want) return;
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old); /* workers inherit a full mask */
  pthread_attr_t attr;
  int attr_ok = pthread_attr_init(&attr) == 0 &&
                pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) == 0;
  while (attr_ok && pool.workers < want) {
    pthread_t id;
    if (pthread_create(&id, &attr, pool_worker, NULL) != 0) break;
    pool.workers++;
  }
  if (attr_ok) pthread_attr_destroy(&attr);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void distac_parallel_for(int threads, int64_t n, int64_t grain, distac_range_fn fn, void *ctx) {
  if (n <= 0) return;
  int t = distac_threads_for(threads, n, grain);
  if (t <= 1) {
    fn(ctx, 0, n);
    return;
  }
  pool_job j = {fn, ctx, n, t, 0, 0, NULL};
  pthread_mutex_lock(&pool.mu);
  pool_grow(t - 1);
  const int queued = pool.workers > 0;
  if (queued) {
    if (pool.tail) pool.tail->next = &j;
    else pool.head = &j;
    pool.tail = &j;
    atomic_fetch_add(&pool.pushes, 1);
    if (pool.sleeping) pthread_cond_broadcast(&pool.work);
  }
  /* The caller works through its own chunks like any worker. With no pool
   * (none could be started) it simply runs them all, in order. */
  while (j.claimed < j.chunks) {
    int c = queued ? pool_claim(&j) : j.claimed++;
    pthread_mutex_unlock(&pool.mu);
    pool_run(&j, c);
    pthread_mutex_lock(&pool.mu);
  }
  pthread_mutex_unlock(&pool.mu);
  /* Chunks taken by workers are mostly running already: poll, then sleep. */
  int64_t until = pool_now_ns() + POOL_WAIT_SPIN_NS;
  for (int spin = 0; atomic_load(&j.finished) < j.chunks; spin++) {
    pool_relax();
    if ((spin & 255) == 255) sched_yield();
    if ((spin & 255) == 255 && pool_now_ns() > until) {
      pthread_mutex_lock(&pool.mu);
      while (atomic_load(&j.finished) < j.chunks) pthread_cond_wait(&pool.done, &pool.mu);
      pthread_mutex_unlock(&pool.mu);
      break;
    }
  }
}
