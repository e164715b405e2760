/*
 * convert_simd.h — the AVX2 and AVX-512 loops of convert.c around each ISA's
 * bf16 rounding (cvt_bf16_ISA in convert.c), written once with the
 * simd_map.h names; convert.c includes it once per ISA (simd_each.h).
 */

/* W elements of dtype t from element i, as f32. */
CVT_INLINE SIMD_TARGET VF SIMD_FN(cvt_load)(distac_dtype t, const void *src, int64_t i) {
  const uint16_t *h = (const uint16_t *)src + i;
  switch (t) {
    case DISTAC_F16: return vf_from_f16(vh_loadu(h));
    case DISTAC_BF16: /* bf16 is the top half of an f32 */
      return vf_from_bf16(vh_loadu(h));
    default: return vf_loadu((const float *)src + i);
  }
}

/* W elements of v as dtype t at element i; stream: non-temporal stores. */
CVT_INLINE SIMD_TARGET void SIMD_FN(cvt_store)(distac_dtype t, void *dst, int64_t i, VF v,
                                               int stream) {
  if (t == DISTAC_F32) {
    float *p = (float *)dst + i;
    if (stream) vf_stream(p, v);
    else vf_storeu(p, v);
    return;
  }
  VH h = t == DISTAC_F16 ? vf_to_f16(v) : SIMD_FN(cvt_bf16)(v);
  VH *p = (VH *)((uint16_t *)dst + i);
  if (stream) vh_stream(p, h);
  else vh_storeu(p, h);
}

CVT_INLINE SIMD_TARGET void SIMD_FN(cvt_run)(distac_dtype dt, void *dst, distac_dtype st,
                                             const void *src, int64_t n) {
  int64_t head = cvt_stream_head(dt, dst, st, n), i;
  if (head >= 0) {
    cvt_range(dt, dst, st, src, 0, head);
    for (i = head; i + SIMD_W <= n; i += SIMD_W)
      SIMD_FN(cvt_store)(dt, dst, i, SIMD_FN(cvt_load)(st, src, i), 1);
    _mm_sfence(); /* order the streamed stores before anything the caller does next */
  } else {
    for (i = 0; i + SIMD_W <= n; i += SIMD_W)
      SIMD_FN(cvt_store)(dt, dst, i, SIMD_FN(cvt_load)(st, src, i), 0);
  }
  cvt_range(dt, dst, st, src, i, n);
}

SIMD_TARGET int SIMD_FN(distac_convert)(distac_dtype dst_type, void *dst, distac_dtype src_type,
                                        const void *src, int64_t n) {
  int rc = cvt_check(dst_type, dst, src_type, src, n);
  if (rc != DISTAC_OK || n == 0) return rc;
  /* Constant dtypes let each pair's loop be compiled without the switches. */
  switch (dst_type * 3 + src_type) {
#define CVT_PAIR(d, s) \
  case d * 3 + s: SIMD_FN(cvt_run)(d, dst, s, src, n); break;
    CVT_PAIR(DISTAC_F32, DISTAC_F16)
    CVT_PAIR(DISTAC_F32, DISTAC_BF16)
    CVT_PAIR(DISTAC_F16, DISTAC_F32)
    CVT_PAIR(DISTAC_F16, DISTAC_BF16)
    CVT_PAIR(DISTAC_BF16, DISTAC_F32)
    CVT_PAIR(DISTAC_BF16, DISTAC_F16)
#undef CVT_PAIR
    default: memcpy(dst, src, (size_t)n * cvt_size(dst_type)); break; /* same type */
  }
  return DISTAC_OK;
}
