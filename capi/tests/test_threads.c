/*
 * test_threads.c — libdistac called from several threads at once, as
 * distac.h allows: each thread runs in-memory merges (TIES and TSV-M), a
 * merge of files into its own output and a diagnosis, again and again, and
 * every result must be the one a single thread got first. Then two threads
 * merge into one output: exactly one succeeds, the other gets
 * DISTAC_E_EXISTS. Run under ASan (and TSan-free by design: the library's
 * threads are Go's).
 */
#include "capitest.h"

#include <pthread.h>

enum { THREADS = 8, ROUNDS = 4, T = 3, ROWS = 16, COLS = 12 };

static char dir[512];
static float base[ROWS * COLS], tasks[T][ROWS * COLS];

/* The results one thread gets, to compare. */
typedef struct {
  float ties[ROWS * COLS], tsvm[ROWS * COLS];
  unsigned char file[ROWS * COLS * 4];
  char diagnose[4096];
  int rc;
  char what[200];
} results;

static int memory_merge(const char *method, float *out, char *what, size_t n) {
  char cfg[64], *err = NULL;
  snprintf(cfg, sizeof cfg, "{\"method\": \"%s\"}", method);
  distac_merge_id id;
  int rc = distac_merge_begin(cfg, T, &id, &err);
  const void *ts[T] = {tasks[0], tasks[1], tasks[2]};
  int64_t shape[2] = {ROWS, COLS};
  if (!rc) rc = distac_merge_add(id, "w", DISTAC_TENSOR_F32, 2, shape, base, ts, out, &err);
  if (!rc) rc = distac_merge_finish(id, NULL, NULL, &err);
  if (rc) snprintf(what, n, "%s in memory: %s", method, err ? err : "?");
  distac_free(err);
  return rc;
}

/* One round of everything, into r; output files are named by tag. */
static void round_of(results *r, int tag) {
  r->rc = memory_merge("ties", r->ties, r->what, sizeof r->what);
  if (!r->rc) r->rc = memory_merge("tsvm", r->tsvm, r->what, sizeof r->what);
  if (r->rc) return;
  char out[1024], cfg[8192], *err = NULL;
  snprintf(out, sizeof out, "%s/out-%d.safetensors", dir, tag);
  snprintf(cfg, sizeof cfg,
           "{\"method\": \"ties\", \"base\": \"%s/base.safetensors\", \"tasks\": [\"%s/t0.safetensors\", "
           "\"%s/t1.safetensors\", \"%s/t2.safetensors\"], \"out\": \"%s\", \"force\": true}",
           dir, dir, dir, dir, out);
  if ((r->rc = distac_merge(cfg, &err)) || ct_read_tensor(out, "w", r->file, sizeof r->file)) {
    snprintf(r->what, sizeof r->what, "merge of files: %d %s", r->rc, err ? err : "");
    r->rc = r->rc ? r->rc : -100;
    distac_free(err);
    return;
  }
  snprintf(cfg, sizeof cfg, "{\"base\": \"%s/base.safetensors\", \"tasks\": [\"%s/t0.safetensors\", \"%s/t1.safetensors\"]}",
           dir, dir, dir);
  char *json = NULL;
  if ((r->rc = distac_diagnose(cfg, &json, &err))) {
    snprintf(r->what, sizeof r->what, "diagnose: %s", err ? err : "");
  } else {
    snprintf(r->diagnose, sizeof r->diagnose, "%s", json);
  }
  distac_free(json), distac_free(err);
}

static results want;

typedef struct {
  int id, mismatches;
  results got;
} worker;

static void *work(void *arg) {
  worker *w = arg;
  for (int k = 0; k < ROUNDS; k++) {
    round_of(&w->got, 100 * w->id + k);
    w->mismatches += w->got.rc != 0 || memcmp(w->got.ties, want.ties, sizeof want.ties) != 0 ||
                     memcmp(w->got.tsvm, want.tsvm, sizeof want.tsvm) != 0 ||
                     memcmp(w->got.file, want.file, sizeof want.file) != 0 || strcmp(w->got.diagnose, want.diagnose) != 0;
  }
  return NULL;
}

/* Two threads race to create one output without force. */
typedef struct {
  int rc;
} racer;

static void *race(void *arg) {
  racer *r = arg;
  char cfg[8192];
  snprintf(cfg, sizeof cfg,
           "{\"method\": \"tsvm\", \"base\": \"%s/base.safetensors\", \"tasks\": [\"%s/t0.safetensors\", "
           "\"%s/t1.safetensors\"], \"out\": \"%s/raced.safetensors\"}",
           dir, dir, dir, dir);
  r->rc = distac_merge(cfg, NULL);
  return NULL;
}

int main(void) {
  ct_counts c = {0, 0};
  if (ct_tempdir(dir, sizeof dir)) return perror("mkdtemp"), 1;
  uint64_t s = 7;
  for (int i = 0; i < ROWS * COLS; i++) base[i] = ct_uniform(&s, 1);
  for (int t = 0; t < T; t++)
    for (int i = 0; i < ROWS * COLS; i++) tasks[t][i] = base[i] + ct_uniform(&s, 0.05f * (t + 1));
  char p[1024];
  ct_tensor bt = {"w", "F32", 2, {ROWS, COLS}, base};
  snprintf(p, sizeof p, "%s/base.safetensors", dir), ct_write(p, &bt, 1);
  for (int t = 0; t < T; t++) {
    ct_tensor tt = {"w", "F32", 2, {ROWS, COLS}, tasks[t]};
    snprintf(p, sizeof p, "%s/t%d.safetensors", dir, t), ct_write(p, &tt, 1);
  }
  round_of(&want, 0);
  CT_CHECK(&c, want.rc == 0, "one thread: %s", want.rc ? want.what : "in-memory TIES and TSV-M, a merge of files, diagnose");
  if (want.rc) return ct_finish(&c);

  pthread_t th[THREADS];
  worker ws[THREADS];
  for (int i = 0; i < THREADS; i++) {
    ws[i] = (worker){.id = i + 1};
    pthread_create(&th[i], NULL, work, &ws[i]);
  }
  int bad = 0;
  for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL), bad += ws[i].mismatches;
  CT_CHECK(&c, bad == 0, "%d threads x %d rounds at once give the single thread's results (%d differ%s%s)", THREADS,
           ROUNDS, bad, bad ? ": " : "", bad ? ws[0].got.what : "");

  racer rs[2];
  pthread_t rt[2];
  for (int i = 0; i < 2; i++) pthread_create(&rt[i], NULL, race, &rs[i]);
  for (int i = 0; i < 2; i++) pthread_join(rt[i], NULL);
  int ok = (rs[0].rc == DISTAC_OK) + (rs[1].rc == DISTAC_OK);
  int exists = (rs[0].rc == DISTAC_E_EXISTS) + (rs[1].rc == DISTAC_E_EXISTS);
  CT_CHECK(&c, ok == 1 && exists == 1, "two merges into one output: one wins, one gets DISTAC_E_EXISTS (%d, %d)",
           rs[0].rc, rs[1].rc);
  ct_rmdir(dir);
  return ct_finish(&c);
}
