/*
 * convert.cu — dtype conversion f32/f16/bf16, any pair, through f32 bits
 * (devmath.h's conversions are the CPU kernels', bit for bit; the host test
 * test_devmath checks them exhaustively against kernels/avx/convert.c).
 * Launched by convert.c. Never run on a GPU.
 */
#include "common.cuh"

KERNEL void distac_convert_k(int dst_type, void *dst, int src_type, const void *src, i64 n) {
  for (i64 i = dc_gid(); i < n; i += dc_gstride()) {
    float v;
    if (src_type == 0) v = ((const float *)src)[i];
    else if (src_type == 1) v = dc_f16_to_f32(((const u16 *)src)[i]);
    else v = dc_bf16_to_f32(((const u16 *)src)[i]);
    if (dst_type == 0) ((float *)dst)[i] = v;
    else if (dst_type == 1) ((u16 *)dst)[i] = dc_f32_to_f16(v);
    else ((u16 *)dst)[i] = dc_f32_to_bf16(v);
  }
}
