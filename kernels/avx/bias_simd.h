/*
 * bias_simd.h — the AVX2 and AVX-512 row of bias.c, written once with the
 * simd_map.h names; bias.c includes it once per ISA through simd_each.h.
 */

/* y[c] += b[c] for one row of n (see bias_row_fn). */
static SIMD_TARGET void SIMD_FN(bias_row)(int64_t n, float *y, const float *b) {
  int64_t i = 0;
  for (; i + SIMD_W <= n; i += SIMD_W) vf_storeu(y + i, vf_add(vf_loadu(y + i), vf_loadu(b + i)));
  if (i < n) {
    VPART k = vpart_tail(n - i);
    vf_store_tail(y + i, vf_add(vf_load_part(y + i, k), vf_load_part(b + i, k)), k);
  }
}
