/*
 * bfloat16 for the inference kernels (pyrnn_forward_bf16): the conversions, and the
 * products of bf16 weights with bf16 rows accumulated in float, in two implementations
 * that compute the same sums (bf16 x bf16 products are exact in float; only the order of
 * the float additions differs):
 *
 *   portable      the weights widened to float once per call, then the float kernels
 *                 (BLAS, the packed blocks of pyrnn_generic.inc): any CPU.
 *   avx512-bf16   VDPBF16PS on pairs of bf16 (two products per float lane and instruction,
 *                 and half the bytes of float weights to stream per step), for the per-step
 *                 product at small batch only (pyrnn_generic.inc says why). Compiled per
 *                 function (target attribute), so one build runs on every x86-64 CPU;
 *                 chosen at run time when the CPU (and the OS, for the AVX-512 state)
 *                 has it.
 *
 * Pair blocks (the avx512-bf16 layout of W, rows j of [N][K] = output units): the units
 * [jb, jb + nb) of a block as [ceil(K/2)][nb][2], element (k, j) at (k - k%2) * nb + 2j + k%2,
 * so that one 64-byte load holds 16 units x 2 consecutive k, and an odd K's last pair is
 * (w[K-1], 0). A block of nb units takes nb * (K + K%2) bf16: never more than the nb * K
 * floats of the portable layout, so both fit in the same section of the work buffer.
 */
#ifndef PYRNN_BF16_H
#define PYRNN_BF16_H

#include <stdint.h>
#include <string.h>

typedef uint16_t bf16_t;

static inline float bf16_to_f32(bf16_t v)
{
    const uint32_t u = (uint32_t)v << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Round to nearest, ties to even (as ml_dtypes and torch round); NaN stays NaN (made quiet). */
static inline bf16_t f32_to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (bf16_t)((u >> 16) | 0x0040u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (bf16_t)(u >> 16);
}

/* Rows [0, n) of W ([n][K], row j at w + j*K) as one pair block (see above). */
static void bf16_pack_pairs(int K, int nb, const bf16_t *restrict w, bf16_t *restrict blk)
{
    for (int k = 0; k < K; k += 2)
        for (int j = 0; j < nb; j++) {
            blk[(size_t)k * nb + 2 * j] = w[(size_t)j * K + k];
            blk[(size_t)k * nb + 2 * j + 1] = k + 1 < K ? w[(size_t)j * K + k + 1] : 0;
        }
}

#if defined(__x86_64__) && defined(__GNUC__) && (__GNUC__ >= 10 || defined(__clang__))
#define PYRNN_HAVE_BF16_DOT 1
#include <immintrin.h>
#define BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512bf16")))

static int bf16_dot_supported(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512bw");
}

/* name = pair kk of row b of a (bf16, row stride lda) broadcast to every lane; K odd: the last
 * pair is (a[K-1], 0), so nothing past the row is read. */
#define BF16_PAIR(name, kk, whole)                                                         \
    __m512bh name;                                                                         \
    {                                                                                      \
        const bf16_t *ar = a + (size_t)b * lda + 2 * (size_t)(kk);                         \
        uint32_t pr = ar[0];                                                               \
        if (whole) memcpy(&pr, ar, sizeof pr);                                             \
        name = (__m512bh)_mm512_set1_epi32((int)pr);                                       \
    }

/* out[b * ldo + j] = sum_k a[b * lda + k] * W[j][k], b < B, j < nb <= 64, from one pair block,
 * one row at a time (the path runs at small batch only, pyrnn_generic.inc says why): NV vectors
 * of 16 units (a constant after inlining), two sets of sums (even and odd pairs) so that the adds
 * of a row do not wait on each other's latency. Partial vectors go through masks. */
BF16_TARGET static inline __attribute__((always_inline)) void
bf16_block_rows(int NV, int B, int K, const bf16_t *restrict a, int lda, const bf16_t *restrict blk, int nb,
                float *restrict out, int ldo)
{
    const int K2 = (K + 1) / 2;   /* pairs */
    __mmask16 m[4];
    for (int v = 0; v < 4; v++) {
        const int left = nb - 16 * v;
        m[v] = left >= 16 ? (__mmask16)0xffff : left > 0 ? (__mmask16)((1u << left) - 1u) : 0;
    }
    for (int b = 0; b < B; b++) {
        __m512 even[4], odd[4];
        for (int v = 0; v < NV; v++) even[v] = odd[v] = _mm512_setzero_ps();
        int kk = 0;
        for (; kk + 2 <= K2; kk += 2) {
            const bf16_t *row = blk + (size_t)kk * 2 * nb;
            BF16_PAIR(av0, kk, 1) BF16_PAIR(av1, kk + 1, 2 * (kk + 1) + 1 < K)
            for (int v = 0; v < NV; v++) {
                even[v] = _mm512_dpbf16_ps(even[v], (__m512bh)_mm512_maskz_loadu_epi32(m[v], row + 32 * v), av0);
                odd[v] = _mm512_dpbf16_ps(odd[v], (__m512bh)_mm512_maskz_loadu_epi32(m[v], row + 2 * nb + 32 * v),
                                          av1);
            }
        }
        if (kk < K2) {
            const bf16_t *row = blk + (size_t)kk * 2 * nb;
            BF16_PAIR(av0, kk, 2 * kk + 1 < K)
            for (int v = 0; v < NV; v++)
                even[v] = _mm512_dpbf16_ps(even[v], (__m512bh)_mm512_maskz_loadu_epi32(m[v], row + 32 * v), av0);
        }
        for (int v = 0; v < NV; v++)
            _mm512_mask_storeu_ps(out + (size_t)b * ldo + 16 * v, m[v], _mm512_add_ps(even[v], odd[v]));
    }
}
#undef BF16_PAIR

BF16_TARGET static void bf16_block_product(int B, int K, const bf16_t *a, int lda, const bf16_t *blk, int nb,
                                           float *out, int ldo)
{
    switch ((nb + 15) / 16) {
    case 4: bf16_block_rows(4, B, K, a, lda, blk, nb, out, ldo); break;
    case 3: bf16_block_rows(3, B, K, a, lda, blk, nb, out, ldo); break;
    case 2: bf16_block_rows(2, B, K, a, lda, blk, nb, out, ldo); break;
    default: bf16_block_rows(1, B, K, a, lda, blk, nb, out, ldo);
    }
}
#else
#define PYRNN_HAVE_BF16_DOT 0
static int bf16_dot_supported(void) { return 0; }
static void bf16_block_product(int B, int K, const bf16_t *a, int lda, const bf16_t *blk, int nb, float *out,
                               int ldo)
{
    (void)B, (void)K, (void)a, (void)lda, (void)blk, (void)nb, (void)out, (void)ldo;   /* never chosen */
}
#endif

#endif /* PYRNN_BF16_H */
