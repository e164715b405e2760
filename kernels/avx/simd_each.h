/*
 * simd_each.h — compiles one SIMD template for each ISA. Not part of the ABI.
 *
 *   #define SIMD_TEMPLATE "op_simd.h"
 *   #include "simd_each.h"
 *
 * includes SIMD_TEMPLATE twice: with SIMD_W 8 and SIMD_PICK(avx2, avx512)
 * picking its first argument, then with SIMD_W 16 picking its second, so
 * the simd_map.h names in the template become AVX2 and then AVX-512
 * intrinsics, and SIMD_FN(f) names f_avx2 and then f_avx512. Before each
 * it includes simd_math.h, whose vector functions every template may use.
 * With SIMD_ONLY defined as 8 or 16 it compiles that width alone. Off x86 it
 * compiles nothing. SIMD_TEMPLATE and SIMD_ONLY are #undef'd afterwards.
 */
#include "simd_map.h"

#ifndef SIMD_TEMPLATE
#error "define SIMD_TEMPLATE before including simd_each.h"
#endif

#if DISTAC_HAVE_X86 && (!defined(SIMD_ONLY) || SIMD_ONLY == 8)
#define SIMD_W 8
#define SIMD_PICK(avx2, avx512) avx2
#include "simd_math.h"
#include SIMD_TEMPLATE
#undef SIMD_PICK
#undef SIMD_W
#endif

#if DISTAC_HAVE_X86 && (!defined(SIMD_ONLY) || SIMD_ONLY == 16)
#define SIMD_W 16
#define SIMD_PICK(avx2, avx512) avx512
#include "simd_math.h"
#include SIMD_TEMPLATE
#undef SIMD_PICK
#undef SIMD_W
#endif

#undef SIMD_TEMPLATE
#undef SIMD_ONLY
