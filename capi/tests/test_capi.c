/*
 * test_capi.c — libdistac through distac.h alone, as a C host uses it:
 * versions and codes; distac_merge against this file's own arithmetic;
 * the in-memory merge against distac_merge's files, bit for bit, for every
 * method and for F32 and BF16; mergekit configs (with distac's out key),
 * WUDI and EMR (its modulators file) against this file's arithmetic;
 * progress and cancellation; diagnose; and the
 * error paths (missing file, corrupt header, shape mismatch, NaN, an
 * existing output, bad configs, NULLs), each a code and a message.
 */
#include "capitest.h"

#include <math.h>

enum { T = 2, ROWS = 6, COLS = 4, BIAS = 6 };

/* A small model: a matrix (merged whole by the SVD methods), a bias. */
typedef struct {
  float w[ROWS * COLS], b[BIAS];
} model;

static void make_models(model *base, model tasks[T]) {
  uint64_t s = 42;
  for (int i = 0; i < ROWS * COLS; i++) base->w[i] = ct_uniform(&s, 1);
  for (int i = 0; i < BIAS; i++) base->b[i] = ct_uniform(&s, 1);
  for (int t = 0; t < T; t++) {
    for (int i = 0; i < ROWS * COLS; i++) tasks[t].w[i] = base->w[i] + ct_uniform(&s, 0.1f * (t + 1));
    for (int i = 0; i < BIAS; i++) tasks[t].b[i] = base->b[i] + ct_uniform(&s, 0.1f * (t + 1));
  }
}

static int write_model(const char *path, const model *m) {
  ct_tensor ts[2] = {{"layer.weight", "F32", 2, {ROWS, COLS}, m->w}, {"layer.bias", "F32", 1, {BIAS}, m->b}};
  return ct_write(path, ts, 2);
}

/* BF16 copies of a model's two tensors. */
typedef struct {
  uint16_t w[ROWS * COLS], b[BIAS];
} model16;

static void to_bf16(const model *m, model16 *o) {
  for (int i = 0; i < ROWS * COLS; i++) o->w[i] = ct_bf16(m->w[i]);
  for (int i = 0; i < BIAS; i++) o->b[i] = ct_bf16(m->b[i]);
}

static int write_model16(const char *path, const model16 *m) {
  ct_tensor ts[2] = {{"layer.weight", "BF16", 2, {ROWS, COLS}, m->w}, {"layer.bias", "BF16", 1, {BIAS}, m->b}};
  return ct_write(path, ts, 2);
}

static char dir[512];

static void path_of(char *out, const char *name) { snprintf(out, 1024, "%s/%s", dir, name); }

/* distac_merge of base + tasks with method into out; the code. */
static int merge_files(const char *method, const char *basep, const char *t0, const char *t1, const char *out,
                       char **err) {
  char cfg[16384];
  snprintf(cfg, sizeof cfg,
           "{\"method\": \"%s\", \"alpha\": 0.5, \"base\": \"%s\", \"tasks\": [\"%s\", \"%s\"], \"out\": \"%s\"}",
           method, basep, t0, t1, out);
  return distac_merge(cfg, err);
}

static void test_versions(ct_counts *c) {
  CT_CHECK(c, strcmp(distac_version(), DISTAC_VERSION_STRING) == 0, "distac_version() %s is the header's %s",
           distac_version(), DISTAC_VERSION_STRING);
  char *err = (char *)1;
  CT_CHECK(c, DISTAC_INIT(&err) == DISTAC_OK && err == NULL, "DISTAC_INIT succeeds and clears *error");
  CT_CHECK(c, DISTAC_INIT(NULL) == DISTAC_OK, "a second DISTAC_INIT is the first again");
  int rc = distac_init(DISTAC_VERSION_MAJOR + 1, 0, &err);
  CT_CHECK(c, rc == DISTAC_E_ARG && err && strstr(err, DISTAC_VERSION_STRING), "distac_init of another major: %d, %s", rc,
           err ? err : "(no message)");
  distac_free(err);
  const char *names[] = {"ok", "bad argument", "out of memory", "bad input file", "I/O error", "numerical failure",
                         "cancelled", "output exists", "internal error"};
  int all = 1;
  for (int code = 0; code >= DISTAC_E_INTERNAL; code--) all &= strcmp(distac_error_string(code), names[-code]) == 0;
  CT_CHECK(c, all && strcmp(distac_error_string(-99), "unknown code") == 0, "distac_error_string names every code");
  distac_free(NULL);
}

/* distac_merge's task arithmetic is this arithmetic: tau = ft - base,
 * theta = base + 0.5 * (tau_0 + tau_1), each step rounded to float (0.5 is
 * exact, so an FMA or not gives the same bits). */
static void test_merge_arithmetic(ct_counts *c, const model *base, const model tasks[T]) {
  char bp[1024], t0[1024], t1[1024], out[1024];
  path_of(bp, "base.safetensors"), path_of(t0, "a.safetensors"), path_of(t1, "b.safetensors"), path_of(out, "ta.safetensors");
  char *err = NULL;
  int rc = merge_files("ta", bp, t0, t1, out, &err);
  CT_CHECK(c, rc == DISTAC_OK && err == NULL, "distac_merge ta: %d %s", rc, err ? err : "");
  distac_free(err);
  model got;
  int read = ct_read_tensor(out, "layer.weight", got.w, sizeof got.w) == 0 &&
             ct_read_tensor(out, "layer.bias", got.b, sizeof got.b) == 0;
  int same = read;
  for (int i = 0; read && i < ROWS * COLS; i++) {
    float d = (tasks[0].w[i] - base->w[i]) + (tasks[1].w[i] - base->w[i]);
    same &= got.w[i] == base->w[i] + 0.5f * d;
  }
  for (int i = 0; read && i < BIAS; i++) {
    float d = (tasks[0].b[i] - base->b[i]) + (tasks[1].b[i] - base->b[i]);
    same &= got.b[i] == base->b[i] + 0.5f * d;
  }
  CT_CHECK(c, same, "the merged file is base + 0.5 * (tau_0 + tau_1), bit for bit");
}

/* Progress: counts calls; cancels once `cancel_after` calls were made. */
typedef struct {
  int calls, cancel_after;
  int64_t last_total;
} progress_state;

static int on_progress(void *user, int64_t done, int64_t total) {
  progress_state *p = user;
  p->calls++;
  p->last_total = total;
  (void)done;
  return p->cancel_after > 0 && p->calls >= p->cancel_after;
}

/* An in-memory merge of the same tensors; 0 and the output, or the code. */
static int merge_memory(const char *config, int dtype, const void *bw, const void *bb, const void *tw[T],
                        const void *tb[T], void *ow, void *ob, progress_state *ps, char **json, char **err) {
  distac_merge_id id = 0;
  int rc = distac_merge_begin(config, T, &id, err);
  if (rc) return rc;
  int64_t ws[2] = {ROWS, COLS}, bs[1] = {BIAS};
  if ((rc = distac_merge_add(id, "layer.weight", dtype, 2, ws, bw, tw, ow, err)) ||
      (rc = distac_merge_add(id, "layer.bias", dtype, 1, bs, bb, tb, ob, err))) {
    distac_merge_abort(id);
    return rc;
  }
  distac_progress p = {on_progress, ps};
  return distac_merge_finish(id, ps ? &p : NULL, json, err);
}

static const char *methods[] = {"mean", "ta", "ties", "consensus", "tsvm", "isoc", "isocts", "dare", "wudi", "emr",
                                "linear", "task_arithmetic", "mergekit_ties", "dare_ties", "dare_linear"};

/* Every method, F32 and BF16: the merge in memory writes the bits
 * distac_merge writes for files holding the same tensors. */
static void test_memory_matches_files(ct_counts *c, const model *base, const model tasks[T]) {
  model16 base16, tasks16[T];
  to_bf16(base, &base16);
  for (int t = 0; t < T; t++) to_bf16(&tasks[t], &tasks16[t]);
  char bp16[1024], a16[1024], b16[1024];
  path_of(bp16, "base16.safetensors"), path_of(a16, "a16.safetensors"), path_of(b16, "b16.safetensors");
  write_model16(bp16, &base16), write_model16(a16, &tasks16[0]), write_model16(b16, &tasks16[1]);
  for (int bf = 0; bf < 2; bf++) {
    for (size_t k = 0; k < sizeof methods / sizeof *methods; k++) {
      char bp[1024], t0[1024], t1[1024], out[1024], name[64];
      path_of(bp, bf ? "base16.safetensors" : "base.safetensors");
      path_of(t0, bf ? "a16.safetensors" : "a.safetensors");
      path_of(t1, bf ? "b16.safetensors" : "b.safetensors");
      snprintf(name, sizeof name, "%s-%s.safetensors", methods[k], bf ? "bf16" : "f32");
      path_of(out, name);
      char *err = NULL;
      int rc = merge_files(methods[k], bp, t0, t1, out, &err);
      if (rc) {
        CT_CHECK(c, 0, "distac_merge %s: %d %s", name, rc, err ? err : "");
        distac_free(err);
        continue;
      }
      size_t es = bf ? 2 : 4;
      unsigned char fw[ROWS * COLS * 4], fb[BIAS * 4], mw[ROWS * COLS * 4], mb[BIAS * 4];
      ct_read_tensor(out, "layer.weight", fw, ROWS * COLS * es);
      ct_read_tensor(out, "layer.bias", fb, BIAS * es);
      char cfg[128];
      snprintf(cfg, sizeof cfg, "{\"method\": \"%s\", \"alpha\": 0.5}", methods[k]);
      const void *tw[T], *tb[T];
      for (int t = 0; t < T; t++) tw[t] = bf ? (const void *)tasks16[t].w : tasks[t].w, tb[t] = bf ? (const void *)tasks16[t].b : tasks[t].b;
      char *json = NULL;
      rc = merge_memory(cfg, bf ? DISTAC_TENSOR_BF16 : DISTAC_TENSOR_F32, bf ? (const void *)base16.w : base->w,
                        bf ? (const void *)base16.b : base->b, tw, tb, mw, mb, NULL, &json, &err);
      int same = rc == 0 && memcmp(fw, mw, ROWS * COLS * es) == 0 && memcmp(fb, mb, BIAS * es) == 0;
      CT_CHECK(c, same && json && strstr(json, "\"memory:task1\""), "%s in memory = distac_merge's file (%d %s)", name, rc,
               err ? err : "");
      distac_free(json), distac_free(err);
    }
  }
}

static void test_progress_and_cancel(ct_counts *c, const model *base, const model tasks[T]) {
  const void *tw[T] = {tasks[0].w, tasks[1].w}, *tb[T] = {tasks[0].b, tasks[1].b};
  float ow[ROWS * COLS], ob[BIAS];
  progress_state ps = {0, 0, 0};
  char *err = NULL, *json = NULL;
  int rc = merge_memory("{\"method\": \"ties\"}", DISTAC_TENSOR_F32, base->w, base->b, tw, tb, ow, ob, &ps, &json, &err);
  CT_CHECK(c, rc == 0 && ps.calls > 0 && ps.last_total > 0, "progress reported %d times (total %lld)", ps.calls,
           (long long)ps.last_total);
  distac_free(json), distac_free(err);
  progress_state stop = {0, 1, 0};
  rc = merge_memory("{\"method\": \"ties\"}", DISTAC_TENSOR_F32, base->w, base->b, tw, tb, ow, ob, &stop, &json, &err);
  CT_CHECK(c, rc == DISTAC_E_CANCELLED && json == NULL && err, "a callback that returns 1 cancels: %d %s", rc,
           err ? err : "");
  distac_free(err);
  distac_merge_id id;
  distac_merge_begin("{}", T, &id, NULL);
  CT_CHECK(c, distac_merge_cancel(id) == DISTAC_OK, "distac_merge_cancel before finish");
  int64_t bs[1] = {BIAS};
  distac_merge_add(id, "layer.bias", DISTAC_TENSOR_F32, 1, bs, base->b, tb, ob, NULL);
  rc = distac_merge_finish(id, NULL, NULL, &err);
  CT_CHECK(c, rc == DISTAC_E_CANCELLED, "finish of a cancelled merge: %d %s", rc, err ? err : "");
  distac_free(err);
  rc = distac_merge_finish(id, NULL, NULL, &err);
  CT_CHECK(c, rc == DISTAC_E_ARG && err && strstr(err, "no in-memory merge"), "a finished id is gone: %d %s", rc,
           err ? err : "");
  distac_free(err);
  CT_CHECK(c, distac_merge_cancel(id) == DISTAC_E_ARG, "cancel of a finished id");
  distac_merge_abort(id);
  distac_merge_abort(0);
}

/* Each bad request: its code and a message naming what is wrong. */
static void expect(ct_counts *c, const char *what, int rc, char *err, int want, const char *needle) {
  CT_CHECK(c, rc == want && err && strstr(err, needle), "%s: %s (%d), want %s naming \"%s\": %s", what,
           distac_error_string(rc), rc, distac_error_string(want), needle, err ? err : "(no message)");
  distac_free(err);
}

static void test_errors(ct_counts *c, const model *base, const model tasks[T]) {
  char bp[1024], t0[1024], t1[1024], out[1024], missing[1024], corrupt[1024], shape[1024], nanp[1024];
  path_of(bp, "base.safetensors"), path_of(t0, "a.safetensors"), path_of(t1, "b.safetensors");
  path_of(out, "err.safetensors"), path_of(missing, "missing.safetensors"), path_of(corrupt, "corrupt.safetensors");
  path_of(shape, "shape.safetensors"), path_of(nanp, "nan.safetensors");
  FILE *f = fopen(corrupt, "wb");
  fwrite("\x10\0\0\0\0\0\0\0{\"w\": not json}", 1, 24, f);
  fclose(f);
  ct_tensor ts[2] = {{"layer.weight", "F32", 2, {COLS, ROWS}, tasks[1].w}, {"layer.bias", "F32", 1, {BIAS}, tasks[1].b}};
  ct_write(shape, ts, 2);
  model bad = tasks[1];
  bad.b[3] = NAN;
  write_model(nanp, &bad);

  char *err = NULL;
  int rc = merge_files("ta", bp, t0, missing, out, &err);
  expect(c, "missing file", rc, err, DISTAC_E_IO, "missing.safetensors");
  rc = merge_files("ta", bp, t0, corrupt, out, &err);
  expect(c, "corrupt header", rc, err, DISTAC_E_INPUT, "corrupt.safetensors");
  rc = merge_files("ties", bp, t0, shape, out, &err);
  expect(c, "shape mismatch", rc, err, DISTAC_E_INPUT, "\"layer.weight\" has shape [4 6]");
  rc = merge_files("ta", bp, t0, nanp, out, &err);
  expect(c, "NaN in a task", rc, err, DISTAC_E_NUMERIC, "NaN at element 3");
  rc = merge_files("ta", bp, t0, t1, bp, &err);
  expect(c, "output = base", rc, err, DISTAC_E_ARG, "is an input");
  char ta[1024];
  path_of(ta, "ta.safetensors");
  rc = merge_files("ta", bp, t0, t1, ta, &err);
  expect(c, "existing output", rc, err, DISTAC_E_EXISTS, "already exists");
  rc = distac_merge("{\"method\": \"ta\", \"alhpa\": 1}", &err);
  expect(c, "unknown key", rc, err, DISTAC_E_ARG, "unknown key");
  rc = distac_merge("method: [", &err);
  expect(c, "YAML that does not parse", rc, err, DISTAC_E_ARG, "distac merge: config");
  rc = distac_merge(NULL, &err);
  expect(c, "NULL config", rc, err, DISTAC_E_ARG, "NULL");
  CT_CHECK(c, distac_merge(NULL, NULL) == DISTAC_E_ARG, "a NULL error pointer is allowed");
  char *json = (char *)1;
  rc = distac_diagnose("{\"base\": \"x\"}", &json, &err);
  CT_CHECK(c, json == NULL, "a failed diagnose leaves *json NULL");
  expect(c, "diagnose without tasks", rc, err, DISTAC_E_ARG, "at least one task");
  rc = distac_condition("{\"bsae\": \"x\"}", &json, &err);
  expect(c, "condition with an unknown key", rc, err, DISTAC_E_ARG, "bsae: unknown key");

  distac_merge_id id = 0;
  rc = distac_merge_begin("{\"base\": \"b.safetensors\"}", T, &id, &err);
  expect(c, "in-memory merge naming a file", rc, err, DISTAC_E_ARG, "do not apply");
  rc = distac_merge_begin("{}", 0, &id, &err);
  expect(c, "in-memory merge of 0 tasks", rc, err, DISTAC_E_ARG, "0 tasks");
  distac_merge_begin("{}", T, &id, NULL);
  int64_t bs[1] = {BIAS};
  const void *tb[T] = {tasks[0].b, NULL};
  float ob[BIAS];
  rc = distac_merge_add(id, "layer.bias", DISTAC_TENSOR_F32, 1, bs, base->b, tb, ob, &err);
  expect(c, "a NULL task buffer", rc, err, DISTAC_E_ARG, "task 1 buffer is NULL");
  rc = distac_merge_add(id, "layer.bias", 7, 1, bs, base->b, tb, ob, &err);
  expect(c, "an unknown dtype", rc, err, DISTAC_E_ARG, "dtype 7");
  int64_t neg[1] = {-2};
  rc = distac_merge_add(id, "layer.bias", DISTAC_TENSOR_F32, 1, neg, base->b, tb, ob, &err);
  expect(c, "a negative dimension", rc, err, DISTAC_E_ARG, "negative dimension");
  tb[1] = bad.b;
  distac_merge_add(id, "layer.bias", DISTAC_TENSOR_F32, 1, bs, base->b, tb, ob, NULL);
  rc = distac_merge_finish(id, NULL, NULL, &err);
  expect(c, "NaN in memory", rc, err, DISTAC_E_NUMERIC, "memory:task1");
  rc = distac_merge_add(123456789, "x", DISTAC_TENSOR_F32, 0, NULL, base->b, tb, ob, &err);
  expect(c, "an unknown id", rc, err, DISTAC_E_ARG, "no in-memory merge 123456789");
}

/* |got - want| within rel of max(1, |want|): for sums whose order the
 * library chooses. */
static int near(double got, double want, double rel) { return fabs(got - want) <= rel * fmax(1, fabs(want)); }

/* The two tensors of the file at path, or 0. */
static int read_model(const char *path, model *m) {
  return ct_read_tensor(path, "layer.weight", m->w, sizeof m->w) == 0 &&
         ct_read_tensor(path, "layer.bias", m->b, sizeof m->b) == 0;
}

/* A mergekit config (YAML, as mergekit reads it) with distac's out key:
 * task_arithmetic with per-model weights and lambda is base + lambda *
 * sum_t w_t tau_t; ties matches the same merge in distac's keys
 * (mergekit_ties) bit for bit; without out it is DISTAC_E_ARG. */
static void test_mergekit(ct_counts *c, const model *base, const model tasks[T]) {
  char bp[1024], t0[1024], t1[1024], out[1024], cfg[16384], *err = NULL;
  path_of(bp, "base.safetensors"), path_of(t0, "a.safetensors"), path_of(t1, "b.safetensors");
  path_of(out, "mk-ta.safetensors");
  snprintf(cfg, sizeof cfg,
           "merge_method: task_arithmetic\nbase_model: %s\nmodels:\n  - model: %s\n    parameters: {weight: 0.7}\n"
           "  - model: %s\n    parameters: {weight: 0.3}\nparameters: {lambda: 0.5}\ndtype: float32\nout: %s\n",
           bp, t0, t1, out);
  int rc = distac_merge(cfg, &err);
  CT_CHECK(c, rc == DISTAC_OK, "distac_merge of a mergekit task_arithmetic config: %d %s", rc, err ? err : "");
  distac_free(err), err = NULL;
  model got;
  int ok = read_model(out, &got);
  for (int i = 0; ok && i < ROWS * COLS; i++)
    ok &= near(got.w[i], base->w[i] + 0.5 * (0.7 * (tasks[0].w[i] - base->w[i]) + 0.3 * (tasks[1].w[i] - base->w[i])), 1e-6);
  for (int i = 0; ok && i < BIAS; i++)
    ok &= near(got.b[i], base->b[i] + 0.5 * (0.7 * (tasks[0].b[i] - base->b[i]) + 0.3 * (tasks[1].b[i] - base->b[i])), 1e-6);
  CT_CHECK(c, ok, "it is base + 0.5 * (0.7 tau_0 + 0.3 tau_1) (1e-6)");

  char mk[1024], own[1024];
  path_of(mk, "mk-ties.safetensors"), path_of(own, "own-ties.safetensors");
  snprintf(cfg, sizeof cfg,
           "merge_method: ties\nbase_model: %s\nmodels:\n  - model: %s\n  - model: %s\n    parameters: {weight: 0.7, density: 0.5}\n"
           "  - model: %s\n    parameters: {weight: 0.3, density: 0.5}\nparameters: {normalize: true, int8_mask: true}\n"
           "out: %s\n",
           bp, bp, t0, t1, mk);
  rc = distac_merge(cfg, &err);
  distac_free(err), err = NULL;
  snprintf(cfg, sizeof cfg,
           "{\"method\": \"mergekit_ties\", \"base\": \"%s\", \"tasks\": [\"%s\", \"%s\"], \"weights\": [0.7, 0.3],"
           " \"density\": [0.5, 0.5], \"normalize\": true, \"alpha\": 1, \"out\": \"%s\"}",
           bp, t0, t1, own);
  int rc2 = distac_merge(cfg, &err);
  distac_free(err), err = NULL;
  model a, b;
  ok = rc == 0 && rc2 == 0 && read_model(mk, &a) && read_model(own, &b) && memcmp(&a, &b, sizeof a) == 0;
  CT_CHECK(c, ok, "a mergekit ties config = mergekit_ties in distac's keys, bit for bit (%d, %d)", rc, rc2);

  snprintf(cfg, sizeof cfg, "merge_method: linear\nmodels:\n  - model: %s\n    parameters: {weight: 1}\n"
           "  - model: %s\n    parameters: {weight: 1}\n", bp, t0);
  rc = distac_merge(cfg, &err);
  expect(c, "a mergekit config without out", rc, err, DISTAC_E_ARG, "out:");
}

/* EMR: tau_uni = gamma * max_t |M_t tau_t| with gamma = sign(sum_t tau_t),
 * M_t = [tau_t gamma > 0]; the output is base + alpha tau_uni, and
 * OUT.modulators.safetensors holds the scales lambda_t = sum_n mean|tau_t|
 * / sum_n mean|M_t tau_uni| over the two tensors n. WUDI: a tensor that is
 * not a matrix is the mean task vector. */
static void test_paper_methods(ct_counts *c, const model *base, const model tasks[T]) {
  char bp[1024], t0[1024], t1[1024], out[1024], mods[1024], *err = NULL;
  path_of(bp, "base.safetensors"), path_of(t0, "a.safetensors"), path_of(t1, "b.safetensors");
  path_of(out, "paper-emr.safetensors"), path_of(mods, "paper-emr.modulators.safetensors");
  int rc = merge_files("emr", bp, t0, t1, out, &err);
  CT_CHECK(c, rc == DISTAC_OK, "distac_merge emr: %d %s", rc, err ? err : "");
  distac_free(err), err = NULL;
  double num[T] = {0}, den[T] = {0};
  model got;
  int ok = read_model(out, &got);
  for (int n = 0; n < 2; n++) {
    int len = n ? BIAS : ROWS * COLS;
    const float *b0 = n ? base->b : base->w, *g = n ? got.b : got.w;
    double sum_tau[T] = {0}, sum_uni[T] = {0};
    for (int i = 0; i < len; i++) {
      float tau[T], s = 0;
      for (int t = 0; t < T; t++) tau[t] = (n ? tasks[t].b[i] : tasks[t].w[i]) - b0[i], s += tau[t];
      float gamma = s > 0 ? 1 : -1, mx = 0;
      for (int t = 0; t < T; t++)
        if (tau[t] * gamma > 0 && fabsf(tau[t]) > mx) mx = fabsf(tau[t]);
      float uni = gamma * mx;
      ok &= near(g[i], b0[i] + 0.5 * uni, 1e-6);
      for (int t = 0; t < T; t++) sum_tau[t] += fabsf(tau[t]), sum_uni[t] += tau[t] * gamma > 0 ? fabsf(uni) : 0;
    }
    for (int t = 0; t < T; t++) num[t] += sum_tau[t] / len, den[t] += sum_uni[t] / len;
  }
  CT_CHECK(c, ok, "emr: the output is base + 0.5 tau_uni (1e-6)");
  float scales[T];
  ok = ct_read_tensor(mods, "scales", scales, sizeof scales) == 0;
  for (int t = 0; ok && t < T; t++) ok &= near(scales[t], num[t] / den[t], 1e-5);
  CT_CHECK(c, ok, "emr: %s holds the scales lambda_t (%g, %g; 1e-5)", "OUT.modulators.safetensors", ok ? scales[0] : 0,
           ok ? scales[1] : 0);

  path_of(out, "paper-wudi.safetensors");
  rc = merge_files("wudi", bp, t0, t1, out, &err);
  CT_CHECK(c, rc == DISTAC_OK, "distac_merge wudi: %d %s", rc, err ? err : "");
  distac_free(err);
  ok = read_model(out, &got);
  int moved = 0;
  for (int i = 0; ok && i < BIAS; i++)
    ok &= near(got.b[i], base->b[i] + 0.5 * ((tasks[0].b[i] - base->b[i]) + (tasks[1].b[i] - base->b[i])) / 2, 1e-6);
  for (int i = 0; i < ROWS * COLS; i++) moved |= got.w[i] != base->w[i];
  CT_CHECK(c, ok && moved, "wudi: the bias is base + 0.5 mean(tau) (1e-6), the matrix is solved for");
}

static void test_diagnose(ct_counts *c) {
  char bp[1024], t0[1024], t1[1024], cfg[16384];
  path_of(bp, "base.safetensors"), path_of(t0, "a.safetensors"), path_of(t1, "b.safetensors");
  snprintf(cfg, sizeof cfg, "base: %s\ntasks: [%s, %s]\nper_tensor: true\n", bp, t0, t1);
  char *json = NULL, *err = NULL;
  int rc = distac_diagnose(cfg, &json, &err);
  CT_CHECK(c, rc == 0 && json && strstr(json, "\"norm_ratio\"") && strstr(json, "\"layer.weight\""),
           "distac_diagnose reports norms, the ratio and per-tensor norms: %d %s", rc, err ? err : "");
  distac_free(json), distac_free(err);
}

int main(void) {
  ct_counts c = {0, 0};
  if (ct_tempdir(dir, sizeof dir)) return perror("mkdtemp"), 1;
  model base, tasks[T];
  make_models(&base, tasks);
  char p[1024];
  path_of(p, "base.safetensors"), write_model(p, &base);
  path_of(p, "a.safetensors"), write_model(p, &tasks[0]);
  path_of(p, "b.safetensors"), write_model(p, &tasks[1]);
  test_versions(&c);
  test_merge_arithmetic(&c, &base, tasks);
  test_memory_matches_files(&c, &base, tasks);
  test_progress_and_cancel(&c, &base, tasks);
  test_errors(&c, &base, tasks);
  test_mergekit(&c, &base, tasks);
  test_paper_methods(&c, &base, tasks);
  test_diagnose(&c);
  ct_rmdir(dir);
  return ct_finish(&c);
}
