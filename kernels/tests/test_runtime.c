/*
 * test_runtime.c — the worker pool behind distac_parallel_for, through the
 * multi-threaded ops: many threads calling at once get the bits of a
 * one-thread call, more threads than CPUs work, and a child process forked
 * after the pool started gets a working pool of its own; and the words of
 * each status.
 *
 *   gcc -std=c11 -O2 -Ikernels/include -Ikernels/avx kernels/avx/[a-z]*.c \
 *       kernels/tests/test_runtime.c -lm -lpthread
 */
#define _POSIX_C_SOURCE 200809L /* fork, waitpid */
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include "distac_cuda.h" /* the CUDA status codes distac_status_string names */
#include "distac_train.h"
#include "testutil.h"

#define N ((int64_t)1 << 22) /* 64 sumsq blocks: enough for several threads */
#define M 256                /* GEMM size: above the threaded-path grain */
#define CALLERS 8
#define ROUNDS 40

typedef struct {
  distac_isa isa;
  const float *x, *a, *b;
  double want_sumsq;
  const float *want_c;
  int bad;
} caller;

/* One calling thread: sumsq and sgemm over and over, with varying thread
 * counts, each result compared bit for bit with the one-thread result. */
static void *call(void *p) {
  caller *c = (caller *)p;
  float *out = malloc((size_t)M * M * sizeof *out);
  int rounds = c->isa == DISTAC_ISA_SCALAR ? ROUNDS / 8 : ROUNDS; /* scalar GEMM is slow */
  for (int r = 0; r < rounds && out; r++) {
    double s = -1;
    int threads = 1 + r % 5;
    c->bad += distac_sumsq_isa(c->isa, c->x, N, &s, threads) != DISTAC_OK;
    c->bad += memcmp(&s, &c->want_sumsq, sizeof s) != 0;
    c->bad += distac_sgemm_isa(c->isa, 0, 1, M, M, M, 1.0f, c->a, M, c->b, M, 0.0f, out, M,
                               threads) != DISTAC_OK;
    c->bad += memcmp(out, c->want_c, (size_t)M * M * sizeof *out) != 0;
  }
  if (!out) c->bad++;
  free(out);
  return NULL;
}

static void test_concurrent(tu_counts *cnt, distac_isa isa, const float *x, const float *a,
                            const float *b) {
  caller cs[CALLERS];
  float *want_c = malloc((size_t)M * M * sizeof *want_c);
  double want = 0;
  int ok = want_c && distac_sumsq_isa(isa, x, N, &want, 1) == DISTAC_OK &&
           distac_sgemm_isa(isa, 0, 1, M, M, M, 1.0f, a, M, b, M, 0.0f, want_c, M, 1) == DISTAC_OK;
  pthread_t ids[CALLERS];
  int started[CALLERS] = {0};
  for (int k = 0; k < CALLERS && ok; k++) {
    cs[k] = (caller){isa, x, a, b, want, want_c, 0};
    started[k] = pthread_create(&ids[k], NULL, call, &cs[k]) == 0;
    if (!started[k]) call(&cs[k]);
  }
  for (int k = 0; k < CALLERS && ok; k++) {
    if (started[k]) pthread_join(ids[k], NULL);
    ok = ok && cs[k].bad == 0;
  }
  free(want_c);
  tu_check(cnt, ok, distac_isa_name(isa), "8 concurrent callers, threads 1..5: same bits", 0);
}

/* The pool has run work in this process; a forked child must still get
 * correct results from multi-threaded calls (its parent's workers are not
 * there). */
static void test_fork(tu_counts *cnt, distac_isa isa, const float *x) {
  double want = 0;
  int ok = distac_sumsq_isa(isa, x, N, &want, 1) == DISTAC_OK;
  pid_t pid = ok ? fork() : -1;
  if (pid == 0) {
    double s = -1;
    int good = distac_sumsq_isa(isa, x, N, &s, 4) == DISTAC_OK && memcmp(&s, &want, sizeof s) == 0;
    _exit(good ? 0 : 1);
  }
  int status = 1;
  ok = ok && pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
       WEXITSTATUS(status) == 0;
  tu_check(cnt, ok, distac_isa_name(isa), "multi-threaded call in a forked child", 0);
}

/* Off x86 the SIMD variants are not compiled: distac_isa_supported says no
 * to them, and every named _avx2/_avx512 function (the ABI keeps them all)
 * returns DISTAC_EISA, whatever its arguments. */
static void test_stubs(tu_counts *cnt) {
#if defined(__x86_64__) || defined(__i386__)
  (void)cnt; /* x86 builds have the real variants */
#else
  int ok = !distac_isa_supported(DISTAC_ISA_AVX2) && !distac_isa_supported(DISTAC_ISA_AVX512) &&
           distac_isa_supported(DISTAC_ISA_SCALAR) && distac_isa_best() == DISTAC_ISA_SCALAR;
  float f[4] = {0};
  double d = 0;
  uint64_t h[4] = {0};
  uint8_t u8[4] = {0};
  int32_t lab[1] = {0};
  const float *xs[1] = {f};
#define TU_STUB(name, ...) \
  ok &= distac_##name##_avx2(__VA_ARGS__) == DISTAC_EISA && distac_##name##_avx512(__VA_ARGS__) == DISTAC_EISA
  TU_STUB(sgemm, 0, 0, 1, 1, 1, 1.0f, f, 1, f, 1, 0.0f, f, 1, 1);
  TU_STUB(sgemm_strided_batched, 0, 0, 1, 1, 1, 1, 1.0f, f, 1, 0, f, 1, 0, 0.0f, f, 1, 1, 1);
  TU_STUB(kl_distill, 1, 1, f, 1, f, 1, 1.0f, 1.0f, &d, f, 1, 1);
  TU_STUB(xent_ls, 1, 1, f, 1, lab, 0.0f, &d, f, 1, 1);
  TU_STUB(convert, DISTAC_F32, f, DISTAC_F16, f, 1);
  TU_STUB(sub, f, DISTAC_F32, f, DISTAC_F32, f, 1);
  TU_STUB(sumsq, f, 1, &d, 1);
  TU_STUB(scale, f, 1, 1.0f);
  TU_STUB(axpy, 1, 1.0f, f, f);
  TU_STUB(wsum, f, 1, xs, f, 1);
  TU_STUB(abs_histogram, f, 1, 0, 1, 0, h);
  TU_STUB(abs_window, f, 1, 0, 1, h, h);
  TU_STUB(ties_trim, f, f, 1, 0.0f);
  TU_STUB(ties_merge, f, 1, xs, f, 1);
  TU_STUB(tall_consensus, f, u8, 1, xs, f, 1, 1);
  TU_STUB(layernorm_forward, 1, 1, f, 1, f, f, 0.0f, f, 1, f, f, 1);
  TU_STUB(layernorm_backward, 1, 1, f, 1, f, 1, f, f, f, f, 1, 0, f, f, 1);
  TU_STUB(gelu_forward, DISTAC_GELU_ERF, 1, f, f, 1);
  TU_STUB(gelu_backward, DISTAC_GELU_ERF, 1, f, f, f, 1);
  TU_STUB(softmax_forward, 1, 1, f, 1, f, 1, 1);
  TU_STUB(softmax_backward, 1, 1, f, 1, f, 1, f, 1, 1);
  TU_STUB(bias_add, 1, 1, f, 1, f, 1);
  TU_STUB(bias_grad, 1, 1, f, 1, f, 1);
  TU_STUB(attention_forward, 1, 1, 1, 1, 1.0f, f, 3, f, f, 1, 1);
  TU_STUB(attention_backward, 1, 1, 1, 1, 1.0f, f, 3, f, f, 1, f, 3, 1);
  TU_STUB(l2norm_forward, 1, 1, f, 1, 1.0f, f, 1, f, 1);
  TU_STUB(l2norm_backward, 1, 1, f, 1, f, 1, f, 1.0f, f, 1, 1);
  TU_STUB(adam_step, 1, f, f, f, f, NULL, 1.0f, 0.9f, 0.999f, 1e-8f, 0.0f, 1.0f, 1, 1);
  TU_STUB(anchored_sumsq, 1, f, NULL, NULL, 0.0f, &d, 1);
#undef TU_STUB
  ok &= distac_scale_isa(DISTAC_ISA_AVX2, f, 1, 1.0f) == DISTAC_EISA &&
        distac_scale(f, 1, 1.0f) == DISTAC_OK; /* the dispatching form runs scalar */
  tu_check(cnt, ok, "simd", "off x86: avx2/avx512 unsupported, all EISA", 0);
#endif
}

/* Every status a kernel header defines has its own words; others are
 * "unknown status". */
static void test_status(tu_counts *cnt) {
  static const struct {
    int status;
    const char *want;
  } cases[] = {{DISTAC_OK, "ok"},
               {DISTAC_EINVAL, "invalid argument"},
               {DISTAC_ENOMEM, "out of memory"},
               {DISTAC_EISA, "instruction set not available"},
               {DISTAC_ECUDA, "CUDA driver call failed"},
               {DISTAC_ENODRIVER, "no usable CUDA driver"},
               {DISTAC_ENODEVICE, "no usable CUDA device"},
               {-99, "unknown status"},
               {1, "unknown status"}};
  int ok = 1;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const char *got = distac_status_string(cases[i].status);
    if (!got || strcmp(got, cases[i].want) != 0) {
      fprintf(stderr, "distac_status_string(%d) = \"%s\", want \"%s\"\n", cases[i].status, got ? got : "(null)",
              cases[i].want);
      ok = 0;
    }
  }
  tu_check(cnt, ok, "any", "distac_status_string names every status", 0);
}

int main(void) {
  tu_counts c = {0};
  test_stubs(&c);
  test_status(&c);
  uint64_t s = 0x9001;
  float *x = malloc((size_t)N * sizeof *x), *a = malloc((size_t)M * M * sizeof *a),
        *b = malloc((size_t)M * M * sizeof *b);
  if (!x || !a || !b) return 1;
  tu_fill(&s, x, N, 1.0f);
  tu_fill(&s, a, M * M, 1.0f);
  tu_fill(&s, b, M * M, 1.0f);
  distac_isa isas[] = TU_ISAS;
  for (int k = 0; k < 3; k++) {
    if (!tu_isa_runs(&c, isas[k])) continue;
    test_concurrent(&c, isas[k], x, a, b);
    test_fork(&c, isas[k], x);
  }
  free(x), free(a), free(b);
  return tu_finish(&c);
}
