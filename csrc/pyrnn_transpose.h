/*
 * Transposes of 32-bit elements (float, or a pair of bf16 moved as one word), for the weight
 * packs: dst[k * ldd + j] = src[j * lds + k] for j < rows, k < cols.
 *
 * Element by element, a transpose makes one 4-byte store per element, each into another cache
 * line: packing a 16 MB W_hh (H = 1024, float) took 5 ms on one Zen 4 core, a 1-row forward step
 * on the packed blocks 0.2 ms. With AVX-512 it goes 16 x 16 elements at a time: 16 row loads of a
 * cache line each, 64 shuffles within registers, 16 stores of a line each. Builds without
 * AVX-512 (and the edges of a matrix that are not whole 16 x 16 squares) take the scalar loop,
 * 16 columns at a time so that the rows it writes stay in L1.
 */
#ifndef PYRNN_TRANSPOSE_H
#define PYRNN_TRANSPOSE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define TRANSPOSE_TILE 16

static inline void transpose_u32_scalar(int rows, int cols, const void *src, size_t lds, void *dst, size_t ldd)
{
    const char *s = (const char *)src;
    char *d = (char *)dst;
    for (int k0 = 0; k0 < cols; k0 += TRANSPOSE_TILE) {
        const int k1 = cols - k0 < TRANSPOSE_TILE ? cols : k0 + TRANSPOSE_TILE;
        for (int j = 0; j < rows; j++)
            for (int k = k0; k < k1; k++) memcpy(d + 4 * ((size_t)k * ldd + j), s + 4 * ((size_t)j * lds + k), 4);
    }
}

#if defined(__AVX512F__)
#include <immintrin.h>

/* One 16 x 16 square: rows src[j * lds .. + 15] (j < 16) become dst[k * ldd .. + 15] (k < 16).
 * Addressed in bytes: the elements may be bf16 pairs, only 2-byte aligned (unaligned loads and
 * stores of 64 bytes read and write them; nothing is accessed as a uint32_t). */
static inline void transpose_u32_16x16(const char *src, size_t lds, char *dst, size_t ldd)
{
    __m512i r[16], t[16];
    for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_si512((const void *)(src + 4 * (size_t)i * lds));
    /* In every 128-bit lane L (columns 4L .. 4L+3): pairs of rows interleaved, */
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
    }
    /* then quads: u[4g + c] lane L = column 4L + c of rows 4g .. 4g+3, */
    for (int g = 0; g < 16; g += 4) {
        r[g] = _mm512_unpacklo_epi64(t[g], t[g + 2]);
        r[g + 1] = _mm512_unpackhi_epi64(t[g], t[g + 2]);
        r[g + 2] = _mm512_unpacklo_epi64(t[g + 1], t[g + 3]);
        r[g + 3] = _mm512_unpackhi_epi64(t[g + 1], t[g + 3]);
    }
    /* then, for each c, the four lanes L of u[c], u[4 + c], u[8 + c], u[12 + c] transposed:
     * output row 4L + c is lane L of each of them, in row-group order. */
    for (int c = 0; c < 4; c++) {
        const __m512i v0 = _mm512_shuffle_i32x4(r[c], r[4 + c], 0x44);    /* u0.l0 u0.l1 u1.l0 u1.l1 */
        const __m512i v1 = _mm512_shuffle_i32x4(r[c], r[4 + c], 0xEE);    /* u0.l2 u0.l3 u1.l2 u1.l3 */
        const __m512i v2 = _mm512_shuffle_i32x4(r[8 + c], r[12 + c], 0x44);
        const __m512i v3 = _mm512_shuffle_i32x4(r[8 + c], r[12 + c], 0xEE);
        _mm512_storeu_si512((void *)(dst + 4 * (size_t)(c) * ldd), _mm512_shuffle_i32x4(v0, v2, 0x88));
        _mm512_storeu_si512((void *)(dst + 4 * (size_t)(4 + c) * ldd), _mm512_shuffle_i32x4(v0, v2, 0xDD));
        _mm512_storeu_si512((void *)(dst + 4 * (size_t)(8 + c) * ldd), _mm512_shuffle_i32x4(v1, v3, 0x88));
        _mm512_storeu_si512((void *)(dst + 4 * (size_t)(12 + c) * ldd), _mm512_shuffle_i32x4(v1, v3, 0xDD));
    }
}
#endif

/* dst[k * ldd + j] = src[j * lds + k], 32-bit elements, j < rows, k < cols (strides in elements). */
static inline void transpose_u32(int rows, int cols, const void *src, size_t lds, void *dst, size_t ldd)
{
#if defined(__AVX512F__)
    const char *s = (const char *)src;   /* byte addresses: see transpose_u32_16x16 */
    char *d = (char *)dst;
    const int whole_rows = rows / 16 * 16, whole_cols = cols / 16 * 16;
    for (int k0 = 0; k0 < whole_cols; k0 += 16)
        for (int j0 = 0; j0 < whole_rows; j0 += 16)
            transpose_u32_16x16(s + 4 * ((size_t)j0 * lds + k0), lds, d + 4 * ((size_t)k0 * ldd + j0), ldd);
    if (whole_rows < rows)   /* the last rows % 16 rows, all columns */
        transpose_u32_scalar(rows - whole_rows, cols, s + 4 * (size_t)whole_rows * lds, lds, d + 4 * (size_t)whole_rows,
                             ldd);
    if (whole_cols < cols)   /* the last cols % 16 columns of the whole rows */
        transpose_u32_scalar(whole_rows, cols - whole_cols, s + 4 * (size_t)whole_cols, lds,
                             d + 4 * (size_t)whole_cols * ldd, ldd);
#else
    transpose_u32_scalar(rows, cols, src, lds, dst, ldd);
#endif
}

#undef TRANSPOSE_TILE
#endif
