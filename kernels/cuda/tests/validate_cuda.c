/*
 * validate_cuda.c — llm.c-style validator of the CUDA kernels: every op runs
 * on the GPU and on the CPU reference (the scalar kernels of kernels/avx),
 * the first mismatches are printed, NaN never passes, then a table of time
 * and GB/s (or GFLOP/s). Without a GPU it prints why and exits 77 (ctest's
 * SKIP_RETURN_CODE). Built by CMake against distac::cuda (embedded PTX).
 *
 * It has never run on a GPU: scripts/gpu-check.sh runs it on one.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "distac_cuda.h"

static distac_cuda *C_;
static CUstream S_;
static int failures;

#define CK(call)                                                                    \
  do {                                                                              \
    int rc_ = (call);                                                               \
    if (rc_ != DISTAC_OK) {                                                         \
      char e_[1024];                                                                \
      distac_cuda_last_error(C_, e_, sizeof e_);                                    \
      fprintf(stderr, "%s:%d: %s = %d %s\n", __FILE__, __LINE__, #call, rc_, e_);  \
      exit(1);                                                                      \
    }                                                                               \
  } while (0)

static uint64_t rng = 88172645463325252ull;
static float frand(void) {
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static CUdeviceptr dev_from(const void *h, size_t bytes) {
  CUdeviceptr d;
  CK(distac_cuda_alloc(C_, bytes, S_, &d));
  CK(distac_cuda_upload(C_, d, h, bytes, S_));
  return d;
}

static void download(void *h, CUdeviceptr d, size_t bytes) { CK(distac_cuda_download(C_, h, d, bytes, S_)); }

/* |got - ref| <= tol + |ref| * tol per element, NaN never passes; prints
 * the first five mismatches. */
static void compare(const char *op, const float *got, const float *ref, int64_t n, float tol) {
  int bad = 0;
  for (int64_t i = 0; i < n; i++) {
    if (!(fabsf(got[i] - ref[i]) <= tol + fabsf(ref[i]) * tol) && !(isnan(ref[i]) && isnan(got[i]))) {
      if (bad < 5) printf("  %s: mismatch at %lld: got %.9g, want %.9g\n", op, (long long)i, got[i], ref[i]);
      bad++;
    }
  }
  printf("%-14s %s (%d of %lld outside tol %.0e)\n", op, bad ? "FAIL" : "ok", bad, (long long)n, tol);
  failures += bad != 0;
}

typedef struct {
  const char *op;
  float ms;
  double bytes, flops;
} row;
static row rows[32];
static int nrows;

static void timed(const char *op, double bytes, double flops, void (*fn)(void *), void *arg) {
  void *t;
  fn(arg); /* warm-up */
  CK(distac_cuda_timer_start(C_, S_, &t));
  for (int i = 0; i < 10; i++) fn(arg);
  float ms;
  CK(distac_cuda_timer_stop(C_, S_, t, &ms));
  rows[nrows++] = (row){op, ms / 10, bytes, flops};
}

typedef struct {
  CUdeviceptr x, y, out, a, b, c;
  int64_t n, m, k;
} args;

static void run_sumsq(void *p) { args *a = p; CK(distac_cuda_sumsq(C_, a->x, a->n, a->out, S_)); }
static void run_axpy(void *p) { args *a = p; CK(distac_cuda_axpy(C_, a->n, 0.5f, a->x, a->y, S_)); }
static void run_kl(void *p) {
  args *a = p;
  CK(distac_cuda_kl_distill(C_, a->m, a->k, a->a, a->k, a->b, a->k, 10, 10, a->out, a->c, a->k, S_));
}
static void run_gemm(void *p) {
  args *a = p;
  CK(distac_cuda_sgemm(C_, 0, 0, a->m, a->m, a->m, 1, a->a, a->m, a->b, a->m, 0, a->c, a->m, S_));
}

int main(void) {
  char err[1024];
  int rc = distac_cuda_open(0, &C_, err, sizeof err);
  if (rc != DISTAC_OK) {
    printf("validate_cuda: skipped: %s\n", err);
    return 77;
  }
  distac_cuda_device_info in;
  distac_cuda_info(C_, &in);
  printf("validate_cuda: %s, compute capability %d.%d, PTX %s\n", in.name, in.cc_major, in.cc_minor, in.ptx_arch);
  CK(distac_cuda_stream_create(C_, &S_));

  /* task-vector ops at an odd size */
  const int64_t n = (1 << 22) + 37;
  float *x = malloc(n * 4), *y = malloc(n * 4), *got = malloc(n * 4), *ref = malloc(n * 4);
  for (int64_t i = 0; i < n; i++) x[i] = frand(), y[i] = frand();
  CUdeviceptr dx = dev_from(x, n * 4), dy = dev_from(y, n * 4), dout;
  CK(distac_cuda_alloc(C_, 8, S_, &dout));
  double gs, rs;
  CK(distac_cuda_sumsq(C_, dx, n, dout, S_));
  download(&gs, dout, 8);
  distac_sumsq_scalar(x, n, &rs, 1);
  printf("%-14s %s (gpu %.17g, cpu %.17g: the same bits)\n", "sumsq", gs == rs ? "ok" : "FAIL", gs, rs);
  failures += gs != rs;

  CK(distac_cuda_axpy(C_, n, 0.5f, dx, dy, S_));
  download(got, dy, n * 4);
  memcpy(ref, y, n * 4);
  for (int64_t i = 0; i < n; i++) ref[i] = fmaf(0.5f, x[i], ref[i]);
  compare("axpy", got, ref, n, 1e-6f);

  uint16_t *h = malloc(n * 2), *hr = malloc(n * 2);
  CUdeviceptr dh;
  CK(distac_cuda_alloc(C_, n * 2, S_, &dh));
  CK(distac_cuda_convert(C_, DISTAC_BF16, dh, DISTAC_F32, dx, n, S_));
  download(h, dh, n * 2);
  distac_convert_scalar(DISTAC_BF16, hr, DISTAC_F32, x, n);
  int cbad = memcmp(h, hr, n * 2) != 0;
  printf("%-14s %s (bit for bit)\n", "convert bf16", cbad ? "FAIL" : "ok");
  failures += cbad;

  /* TIES merge of three tasks */
  CUdeviceptr xs[3] = {dx, dy, dx};
  float thr[3] = {0.1f, 0.2f, 0.3f};
  const float *hx[3] = {x, y, x};
  CUdeviceptr dm;
  CK(distac_cuda_alloc(C_, n * 4, S_, &dm));
  memcpy(y, got, n * 4); /* dy now holds y + 0.5 x */
  hx[1] = y;
  CK(distac_cuda_ties_merge(C_, dm, 3, xs, thr, n, S_));
  download(got, dm, n * 4);
  distac_ties_merge_scalar(ref, 3, hx, thr, n);
  compare("ties_merge", got, ref, n, 0);

  /* KL distillation, 256 x 1000 */
  const int64_t R = 256, K = 1000;
  float *zt = malloc(R * K * 4), *zs = malloc(R * K * 4), *g = malloc(R * K * 4), *gr = malloc(R * K * 4);
  for (int64_t i = 0; i < R * K; i++) zt[i] = 5 * frand(), zs[i] = 5 * frand();
  CUdeviceptr dzt = dev_from(zt, R * K * 4), dzs = dev_from(zs, R * K * 4), dg;
  CK(distac_cuda_alloc(C_, R * K * 4, S_, &dg));
  double kl, klr;
  CK(distac_cuda_kl_distill(C_, R, K, dzt, K, dzs, K, 10, 10, dout, dg, K, S_));
  download(&kl, dout, 8);
  download(g, dg, R * K * 4);
  distac_kl_distill_scalar(R, K, zt, K, zs, K, 10, 10, &klr, gr, K, 1);
  int klbad = !(fabs(kl - klr) <= 1e-6 * fabs(klr) + 1e-9);
  printf("%-14s %s (gpu %.9g, cpu %.9g)\n", "kl loss", klbad ? "FAIL" : "ok", kl, klr);
  failures += klbad;
  compare("kl grad", g, gr, R * K, 1e-5f);

  /* SGEMM 512^3 */
  const int64_t M = 512;
  float *A = malloc(M * M * 4), *B = malloc(M * M * 4), *Cg = malloc(M * M * 4), *Cr = malloc(M * M * 4);
  for (int64_t i = 0; i < M * M; i++) A[i] = frand(), B[i] = frand();
  CUdeviceptr dA = dev_from(A, M * M * 4), dB = dev_from(B, M * M * 4), dC;
  CK(distac_cuda_alloc(C_, M * M * 4, S_, &dC));
  CK(distac_cuda_sgemm(C_, 0, 0, M, M, M, 1, dA, M, dB, M, 0, dC, M, S_));
  download(Cg, dC, M * M * 4);
  distac_sgemm_scalar(0, 0, M, M, M, 1, A, M, B, M, 0, Cr, M, 1);
  compare("sgemm", Cg, Cr, M * M, 1e-4f);
  CK(distac_cuda_sgemm_bf16(C_, 0, 1, M, M, M, 1, dA, M, dB, M, 0, dC, M, S_));
  download(Cg, dC, M * M * 4);
  distac_sgemm_bf16_scalar(0, 1, M, M, M, 1, A, M, B, M, 0, Cr, M, 1);
  compare("sgemm bf16", Cg, Cr, M * M, 1e-4f);

  args ta = {dx, dy, dout, 0, 0, 0, n, 0, 0};
  timed("sumsq", n * 4.0, 0, run_sumsq, &ta);
  timed("axpy", n * 12.0, 0, run_axpy, &ta);
  args ka = {0, 0, dout, dzt, dzs, dg, 0, R, K};
  timed("kl_distill", R * K * 12.0, 0, run_kl, &ka);
  args ga = {0, 0, 0, dA, dB, dC, 0, M, 0};
  timed("sgemm 512^3", M * M * 12.0, 2.0 * M * M * M, run_gemm, &ga);
  printf("\n%-14s | %10s | %10s | %10s\n", "op", "time ms", "GB/s", "TFLOP/s");
  for (int i = 0; i < nrows; i++)
    printf("%-14s | %10.4f | %10.1f | %10.3f\n", rows[i].op, rows[i].ms, rows[i].bytes / rows[i].ms / 1e6,
           rows[i].flops / rows[i].ms / 1e9);
  printf("\nvalidate_cuda: %d failures\n", failures);
  distac_cuda_close(C_);
  return failures != 0;
}
