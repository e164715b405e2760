// A C++ host of distac, built against the installed package (find_package
// (distac): distac::distac, the C API; distac::kernels, the CPU kernels):
//
//   cmake -S examples/cpp_host -B build-host -DCMAKE_PREFIX_PATH=PREFIX
//   cmake --build build-host && ./build-host/cpp_host
//
// (a) A training loop of its own that calls the fused KL kernel: two
//     softmax-regression students distilled from fixed teachers on data it
//     makes, the kernel's gradient checked against a plain C++ loop and the
//     loss checked to fall.
// (b) The two students as task checkpoints: merged with distac_merge and
//     checked against this file's arithmetic, and merged in memory
//     (distac_merge_begin/add/finish) to the same bits as the file merge.
// (c) One task conditioned with distac_condition on a tiny model and data
//     it writes.
// (d) The error paths: a missing file, a corrupt header, a shape mismatch,
//     and a kernel's bad argument; each a code and a message, no crash.
#include <stdlib.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "distac.h"
#include "distac_kernels.h"
#include "safetensors.hpp"

// distac_status_string came with kernels ABI 3: a host that needs a function
// checks the version it was added in, as distac_kernels.h asks.
static_assert(DISTAC_KERNELS_ABI_VERSION >= 3, "distac_status_string needs kernels ABI 3");

namespace {

int passed = 0, failed = 0;

void check(bool ok, const std::string &what) {
  (ok ? passed : failed)++;
  std::printf("%-4s %s\n", ok ? "ok" : "FAIL", what.c_str());
}

// A C API call's result: its code, message and JSON (the strings freed
// here). Make the call first: the order C++ evaluates arguments in is not
// the order they are written in.
struct Result {
  int code;
  std::string message, json;
};

Result result(int code, char *err, char *json = nullptr) {
  Result r{code, err ? err : "", json ? json : ""};
  distac_free(err);
  distac_free(json);
  return r;
}

std::string dir;  // scratch directory of this run
std::string path(const std::string &name) { return dir + "/" + name; }

// ------------------------------------------------------------------ (a) ---
constexpr int N = 64, D = 8, C = 5;  // samples, features, classes
constexpr float kT = 2.0f;           // T_tcr = T_stu

std::vector<float> randoms(std::mt19937 &g, size_t n, float scale) {
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto &x : v) x = d(g);
  return v;
}

// logits = x W^T (N x C) with the kernels' GEMM.
std::vector<float> logits(const std::vector<float> &x, const std::vector<float> &w) {
  std::vector<float> z(N * C);
  if (distac_sgemm(0, 1, N, C, D, 1.0f, x.data(), D, w.data(), D, 0.0f, z.data(), C, 1) != DISTAC_OK) z.assign(N * C, NAN);
  return z;
}

// The distillation loss and its gradient by the formulas, in double:
// p = softmax(zt/T), q = softmax(zs/T), L = T^2/N sum KL(p||q), dL/dzs = T/N (q - p).
double plain_kl(const std::vector<float> &zt, const std::vector<float> &zs, std::vector<double> *grad) {
  double loss = 0;
  for (int r = 0; r < N; r++) {
    double p[C], q[C], mp = -INFINITY, mq = -INFINITY, sp = 0, sq = 0;
    for (int j = 0; j < C; j++) mp = std::fmax(mp, zt[r * C + j] / kT), mq = std::fmax(mq, zs[r * C + j] / kT);
    for (int j = 0; j < C; j++) sp += p[j] = std::exp(zt[r * C + j] / kT - mp), sq += q[j] = std::exp(zs[r * C + j] / kT - mq);
    for (int j = 0; j < C; j++) {
      p[j] /= sp, q[j] /= sq;
      loss += p[j] * std::log(p[j] / q[j]);
      (*grad)[r * C + j] = kT / N * (q[j] - p[j]);
    }
  }
  return kT * kT / N * loss;
}

// Distils a student from w0 toward the teacher's logits zt by gradient
// descent on the kernel's loss; checks the first gradient and the fall.
std::vector<float> train_student(const char *name, const std::vector<float> &x, const std::vector<float> &zt,
                                 std::vector<float> w) {
  std::vector<float> dz(N * C), gw(C * D);
  double first = 0, last = 0;
  for (int step = 0; step < 300; step++) {
    std::vector<float> zs = logits(x, w);
    double loss = NAN;
    int rc = distac_kl_distill(N, C, zt.data(), C, zs.data(), C, kT, kT, &loss, dz.data(), C, 1);
    if (rc != DISTAC_OK) {
      check(false, std::string(name) + ": kl_distill: " + distac_status_string(rc));
      return w;
    }
    if (step == 0) {
      std::vector<double> want(N * C);
      double want_loss = plain_kl(zt, zs, &want);
      double worst = 0;
      for (int i = 0; i < N * C; i++) worst = std::fmax(worst, std::fabs(dz[i] - want[i]));
      char line[160];
      std::snprintf(line, sizeof line, "%s: the kernel's loss and gradient are the plain loop's (max abs diff %.2g)", name, worst);
      check(worst < 1e-7 && std::fabs(loss - want_loss) < 1e-6 * want_loss, line);
      first = loss;
    }
    last = loss;
    // dL/dW = dz^T x, then a plain gradient step.
    distac_sgemm(1, 0, C, D, N, 1.0f, dz.data(), C, x.data(), D, 0.0f, gw.data(), D, 1);
    for (int i = 0; i < C * D; i++) w[i] -= 2.0f * gw[i];
  }
  char line[160];
  std::snprintf(line, sizeof line, "%s: the distillation loss falls, %.4g -> %.4g", name, first, last);
  check(last < 0.05 * first, line);
  return w;
}

// ------------------------------------------------------------------ (b) ---
// theta = base + 0.5 * (tau_a + tau_b), rounded as distac rounds it (0.5
// is exact, so with or without an FMA these are the bits).
void merge_files_and_memory(const std::vector<float> &w0, const std::vector<float> &wa, const std::vector<float> &wb) {
  std::vector<int64_t> shape = {C, D};
  st::write(path("base.safetensors"), {{"head.weight", shape, w0}});
  st::write(path("task_a.safetensors"), {{"head.weight", shape, wa}});
  st::write(path("task_b.safetensors"), {{"head.weight", shape, wb}});
  auto config = [](const char *method, const std::string &out) {
    return std::string("{\"method\": \"") + method + "\", \"alpha\": 0.5, \"base\": \"" + path("base.safetensors") +
           "\", \"tasks\": [\"" + path("task_a.safetensors") + "\", \"" + path("task_b.safetensors") + "\"], \"out\": \"" +
           out + "\"}";
  };
  char *err = nullptr;
  int rc = distac_merge(config("ta", path("ta.safetensors")).c_str(), &err);
  Result r = result(rc, err);
  std::vector<float> got(C * D);
  bool same = r.code == DISTAC_OK && st::read(path("ta.safetensors"), "head.weight", &got);
  for (int i = 0; same && i < C * D; i++) same = got[i] == w0[i] + 0.5f * ((wa[i] - w0[i]) + (wb[i] - w0[i]));
  check(same, "distac_merge (task arithmetic) is base + 0.5 (tau_a + tau_b), bit for bit " + r.message);

  // TIES in memory, over the trainer's own buffers, against TIES on files.
  rc = distac_merge(config("ties", path("ties.safetensors")).c_str(), &err);
  r = result(rc, err);
  std::vector<float> file(C * D), mem(C * D);
  bool read = r.code == DISTAC_OK && st::read(path("ties.safetensors"), "head.weight", &file);
  distac_merge_id id = 0;
  const void *tasks[2] = {wa.data(), wb.data()};
  char *json = nullptr;
  rc = distac_merge_begin("{\"method\": \"ties\", \"alpha\": 0.5}", 2, &id, &err);
  if (rc == DISTAC_OK) rc = distac_merge_add(id, "head.weight", DISTAC_TENSOR_F32, 2, shape.data(), w0.data(), tasks, mem.data(), &err);
  if (rc == DISTAC_OK) rc = distac_merge_finish(id, nullptr, &json, &err);
  r = result(rc, err, json);
  check(read && r.code == DISTAC_OK && file == mem && r.json.find("\"ties_threshold\"") != std::string::npos,
        "TIES in memory (begin/add/finish) = TIES on files, bit for bit " + r.message);
}

// ------------------------------------------------------------------ (c) ---
// A tiny MLP encoder (16 pixels -> 8 -> 4 features) with its config in the
// checkpoint, a fine-tuned copy, a frozen 3-class head and 32 images.
void condition_one_task() {
  std::mt19937 g(3);
  const char *cfg = "{\"embed_dim\": 4, \"mlp_cfg\": {\"in_features\": 16, \"hidden\": [8]},"
                    " \"preprocess_cfg\": {\"mean\": [0.5], \"std\": [0.25]}}";
  std::map<std::string, std::string> meta = {{"distac.model_config", cfg}, {"distac.key_prefix", ""}};
  std::vector<st::Tensor> base = {{"fc.0.weight", {8, 16}, randoms(g, 128, 0.25f)}, {"fc.0.bias", {8}, randoms(g, 8, 0.1f)},
                                  {"fc.1.weight", {4, 8}, randoms(g, 32, 0.35f)}, {"fc.1.bias", {4}, randoms(g, 4, 0.1f)}};
  std::vector<st::Tensor> task = base;
  for (auto &t : task)
    for (auto &v : t.values) v += randoms(g, 1, 0.05f)[0];
  std::vector<float> images = randoms(g, 32 * 16, 0.2f);
  for (auto &v : images) v = std::fmin(1.0f, std::fmax(0.0f, v + 0.5f));
  st::write(path("mlp-base.safetensors"), base, meta);
  st::write(path("mlp-task.safetensors"), task, meta);
  st::write(path("mlp-head.safetensors"), {{"head", {3, 4}, randoms(g, 12, 5.0f)}});
  st::write(path("mlp-images.safetensors"), {{"images", {32, 1, 4, 4}, images}});
  std::string config = "base: " + path("mlp-base.safetensors") + "\ntasks: [" + path("mlp-task.safetensors") +
                       "]\nheads: " + path("mlp-head.safetensors") + "\ndata: " + path("mlp-images.safetensors") +
                       "\nouts: [" + path("mlp-task.distac.safetensors") +
                       "]\nkappa: 0.5\nsteps: 20\nbatch: 16\nlr: 1e-2\nthreads: 1\n";
  char *json = nullptr, *err = nullptr;
  int rc = distac_condition(config.c_str(), &json, &err);
  Result r = result(rc, err, json);
  double kappa = NAN, kl_first = NAN, kl_last = NAN;
  auto number = [&](const char *key) {
    size_t at = r.json.find(std::string("\"") + key + "\": ");
    return at == std::string::npos ? NAN : std::strtod(r.json.c_str() + at + std::strlen(key) + 4, nullptr);
  };
  kappa = number("kappa"), kl_first = number("kl_first"), kl_last = number("kl_last");
  FILE *out = std::fopen(path("mlp-task.distac.safetensors").c_str(), "rb");
  check(r.code == DISTAC_OK && kappa == 0.5 && kl_last < kl_first && out != nullptr,
        "distac_condition: kappa " + std::to_string(kappa) + ", KL " + std::to_string(kl_first) + " -> " +
            std::to_string(kl_last) + ", output written " + r.message);
  if (out) std::fclose(out);
}

// ------------------------------------------------------------------ (d) ---
void error_paths() {
  st::write(path("short.safetensors"), {{"head.weight", {D, C}, std::vector<float>(C * D)}});
  FILE *f = std::fopen(path("corrupt.safetensors").c_str(), "wb");
  std::fwrite("\x20\0\0\0\0\0\0\0{not a header}", 1, 22, f);  // a header length past the end
  std::fclose(f);
  for (const auto &[what, task, code] : {std::tuple<const char *, const char *, int>{"missing file", "nope.safetensors", DISTAC_E_IO},
                                         {"corrupt header", "corrupt.safetensors", DISTAC_E_INPUT},
                                         {"shape mismatch", "short.safetensors", DISTAC_E_INPUT}}) {
    std::string config = "{\"method\": \"ta\", \"base\": \"" + path("base.safetensors") + "\", \"tasks\": [\"" +
                         path("task_a.safetensors") + "\", \"" + path(task) + "\"], \"out\": \"" + path("never.safetensors") + "\"}";
    char *err = nullptr;
    int rc = distac_merge(config.c_str(), &err);
    Result r = result(rc, err);
    check(r.code == code && r.message.find(task) != std::string::npos,
          std::string(what) + ": " + distac_error_string(r.code) + " (" + std::to_string(r.code) + "): " + r.message);
  }
  FILE *none = std::fopen(path("never.safetensors").c_str(), "rb");
  check(none == nullptr, "no output is left by a failed merge");
  if (none) std::fclose(none);
  float x = 0;
  int kc = distac_sgemm(0, 0, -1, 1, 1, 1.0f, &x, 1, &x, 1, 0.0f, &x, 1, 1);
  check(kc == DISTAC_EINVAL, std::string("a kernel's bad argument: ") + distac_status_string(kc));
}

}  // namespace

int main() {
  char *err = nullptr;
  if (DISTAC_INIT(&err) != DISTAC_OK) {
    std::printf("FAIL %s\n", err);
    return 1;
  }
  std::printf("libdistac %s (header %s), kernels ABI %d on %s\n", distac_version(), DISTAC_VERSION_STRING,
              DISTAC_KERNELS_ABI_VERSION, distac_isa_name(distac_isa_best()));
  char tmpl[] = "/tmp/distac-cpp-host-XXXXXX";
  if (const char *t = std::getenv("TMPDIR"); t && *t) dir = std::string(t) + "/distac-cpp-host-XXXXXX";
  else dir = tmpl;
  if (!mkdtemp(dir.data())) return std::perror("mkdtemp"), 1;

  std::mt19937 g(1);
  std::vector<float> x = randoms(g, N * D, 1.0f), w0 = randoms(g, C * D, 0.1f);
  std::vector<float> zt_a = logits(x, randoms(g, C * D, 1.0f)), zt_b = logits(x, randoms(g, C * D, 1.0f));
  std::vector<float> wa = train_student("student a", x, zt_a, w0), wb = train_student("student b", x, zt_b, w0);
  merge_files_and_memory(w0, wa, wb);
  condition_one_task();
  error_paths();

  if (std::system(("rm -rf '" + dir + "'").c_str()) != 0) std::printf("could not remove %s\n", dir.c_str());
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
