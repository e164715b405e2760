// A C++ program that embeds distac's kernels through the C ABI: a GEMM and
// the fused KL-distillation loss, each checked against a plain loop.
//
//   cmake -S . -B build && cmake --build build && ./build/cpp_host
#include <cmath>
#include <cstdio>
#include <vector>

#include "distac_kernels.h"

int main() {
  std::printf("distac kernels ABI %d, best instruction set: %s, %d threads\n",
              DISTAC_KERNELS_ABI_VERSION, distac_isa_name(distac_isa_best()),
              distac_default_threads());

  // C = A * B for a 3x4 by 4x2 product.
  const int m = 3, n = 2, k = 4;
  std::vector<float> a(m * k), b(k * n), c(m * n, 0.0f);
  for (int i = 0; i < m * k; i++) a[i] = 0.25f * static_cast<float>(i % 5) - 0.5f;
  for (int i = 0; i < k * n; i++) b[i] = 0.5f * static_cast<float>(i % 3) - 0.25f;
  if (distac_sgemm(0, 0, m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f, c.data(), n, 0) != DISTAC_OK) {
    std::printf("FAIL: sgemm returned an error\n");
    return 1;
  }
  double worst = 0;
  for (int i = 0; i < m; i++)
    for (int j = 0; j < n; j++) {
      double want = 0;
      for (int p = 0; p < k; p++) want += static_cast<double>(a[i * k + p]) * b[p * n + j];
      worst = std::fmax(worst, std::fabs(want - c[i * n + j]));
    }
  std::printf("sgemm 3x2x4: max abs error %.3g\n", worst);
  if (!(worst < 1e-5)) return 1;

  // KL distillation of two identical rows is zero.
  std::vector<float> z = {1.0f, 2.0f, 3.0f, 4.0f};
  double loss = -1;
  std::vector<float> grad(z.size());
  if (distac_kl_distill(1, 4, z.data(), 4, z.data(), 4, 10.0f, 10.0f, &loss, grad.data(), 4, 1) != DISTAC_OK) {
    std::printf("FAIL: kl_distill returned an error\n");
    return 1;
  }
  std::printf("kl_distill of identical logits: loss %.3g\n", loss);
  if (!(std::fabs(loss) < 1e-6)) return 1;
  std::printf("1 passed, 0 failed\n");
  return 0;
}
