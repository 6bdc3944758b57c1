/*
 * bfloat16 for the inference kernels (pyrnn_forward_bf16): the conversions, and the
 * products of bf16 weights with bf16 rows accumulated in float, in two implementations
 * that compute the same sums (bf16 x bf16 products are exact in float; only the order of
 * the float additions differs):
 *
 *   portable      the weights widened to float once per call, then the float kernels
 *                 (BLAS, the packed blocks of pyrnn_generic.inc): any CPU.
 *   avx512-bf16   VDPBF16PS on pairs of bf16 (two products per float lane and instruction,
 *                 and half the bytes of float weights to stream per step): for the per-step
 *                 product at small batch, or for every product (the input projection too)
 *                 where the CPU retires it fast enough (pyrnn.c measures). Compiled per
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
#include <time.h>

#include "pyrnn_transpose.h"

typedef uint16_t bf16_t;

/* Units per pair block: 4 vectors of 16 float sums, whatever vector width the float kernels were built for. */
#define BF16_PACK 64

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

/* Rows [0, n) of W ([n][K], row j at w + j*K) as one pair block (see above). For an even K a
 * pair is one 32-bit word and the block W's words transposed (pyrnn_transpose.h). */
static void bf16_pack_pairs(int K, int nb, const bf16_t *restrict w, bf16_t *restrict blk)
{
    if (K % 2 == 0) {
        transpose_u32(nb, K / 2, w, (size_t)K / 2, blk, (size_t)nb);
        return;
    }
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

/* How many VDPBF16PS a core retires per VFMADD231PS (both on 512-bit registers, enough
 * independent sums to hide the latency), best of a few short runs (well under 1 ms). Each
 * VDPBF16PS does two multiply-adds per lane, so above 1/2 bf16 has more compute than float:
 * measured 0.24 on a Xeon with AVX512-BF16 (1.3 G/s against 5.4 G/s), 0.93 on a Zen 5 EPYC. */
#define BF16_RATE_CHAINS 12
BF16_TARGET __attribute__((noinline)) static double bf16_seconds(long n, int dot)
{
    __m512 acc[BF16_RATE_CHAINS];
    for (int i = 0; i < BF16_RATE_CHAINS; i++) acc[i] = _mm512_setzero_ps();
    __m512 x = _mm512_set1_ps(1.0f), y = _mm512_set1_ps(1e-30f);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long r = 0; r < n; r += BF16_RATE_CHAINS) {
        __asm__ volatile("" : "+v"(x), "+v"(y));   /* keeps the operands from being folded */
        if (dot) {
#pragma GCC unroll 12
            for (int i = 0; i < BF16_RATE_CHAINS; i++) acc[i] = _mm512_dpbf16_ps(acc[i], (__m512bh)x, (__m512bh)y);
        } else {
#pragma GCC unroll 12
            for (int i = 0; i < BF16_RATE_CHAINS; i++) acc[i] = _mm512_fmadd_ps(x, y, acc[i]);
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    __m512 sum = acc[0];
    for (int i = 1; i < BF16_RATE_CHAINS; i++) sum = _mm512_add_ps(sum, acc[i]);
    volatile float sink = _mm512_reduce_add_ps(sum);
    (void)sink;
    return (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
}

/* One core's VDPBF16PS (dot) or float FMA (else) rate in GFLOP/s, 2 per multiply-add, best of 3. */
BF16_TARGET static double bf16_vector_peak_gflops(int dot)
{
    const long n = 1L << 20;
    double best = 1e30;
    for (int r = 0; r < 3; r++) {
        const double t = bf16_seconds(n, dot);
        if (t < best) best = t;
    }
    return (double)n * 16 * (dot ? 2 : 1) * 2 / best * 1e-9;
}

BF16_TARGET static double bf16_dot_rate(void)
{
    const long n = 1L << 18;
    double best_dot = 1e30, best_fma = 1e30;
    for (int r = 0; r < 3; r++) {
        const double d = bf16_seconds(n, 1), f = bf16_seconds(n, 0);
        if (d < best_dot) best_dot = d;
        if (f < best_fma) best_fma = f;
    }
    return best_dot > 0 ? best_fma / best_dot : 0.0;
}
#undef BF16_RATE_CHAINS

/* R rows (b0.. of a, bf16, row stride lda) times one pair block of nb <= 64 units (NV vectors of
 * 16, masks m for a partial last one) into out (row stride ldo): an R x NV register tile, each
 * sum in U independent chains (pairs taken round-robin; at most 2) so that full-width tiles keep 8
 * or more VDPBF16PS in flight (the 1-3 row tiles of a narrow block keep fewer); R, NV, U are
 * constants after inlining. The row's pair kk is one 32-bit broadcast; an odd
 * K's last pair is (a[K-1], 0), so nothing past a row is read. */
BF16_TARGET static inline __attribute__((always_inline)) void
bf16_row_tile(const int R, const int NV, const int U, int K, const bf16_t *restrict a, int lda,
              const bf16_t *restrict blk, int nb, const __mmask16 *m, float *restrict out, int ldo)
{
    const int whole = K / 2;
    __m512 acc[6][4][2];
#pragma GCC unroll 6
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++)
#pragma GCC unroll 2
            for (int u = 0; u < U; u++) acc[r][v][u] = _mm512_setzero_ps();
    int kk = 0;
    for (; kk + U <= whole; kk += U)
#pragma GCC unroll 2
        for (int u = 0; u < U; u++) {
            const bf16_t *row = blk + (size_t)(kk + u) * 2 * nb;
            __m512bh w[4];
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) w[v] = (__m512bh)_mm512_maskz_loadu_epi32(m[v], row + 32 * v);
#pragma GCC unroll 6
            for (int r = 0; r < R; r++) {
                uint32_t pr;
                memcpy(&pr, a + (size_t)r * lda + 2 * (size_t)(kk + u), sizeof pr);
                const __m512bh av = (__m512bh)_mm512_set1_epi32((int)pr);
#pragma GCC unroll 4
                for (int v = 0; v < NV; v++) acc[r][v][u] = _mm512_dpbf16_ps(acc[r][v][u], w[v], av);
            }
        }
    for (; kk < (K + 1) / 2; kk++) {   /* the pairs left over from the chains, then an odd K's last */
        const bf16_t *row = blk + (size_t)kk * 2 * nb;
        __m512bh w[4];
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) w[v] = (__m512bh)_mm512_maskz_loadu_epi32(m[v], row + 32 * v);
#pragma GCC unroll 6
        for (int r = 0; r < R; r++) {
            const bf16_t *ar = a + (size_t)r * lda + 2 * (size_t)kk;
            uint32_t pr = ar[0];
            if (kk < whole) memcpy(&pr, ar, sizeof pr);
            const __m512bh av = (__m512bh)_mm512_set1_epi32((int)pr);
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) acc[r][v][0] = _mm512_dpbf16_ps(acc[r][v][0], w[v], av);
        }
    }
#pragma GCC unroll 6
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) {
            __m512 sum = acc[r][v][0];
            if (U > 1) sum = _mm512_add_ps(sum, acc[r][v][1]);
            _mm512_mask_storeu_ps(out + (size_t)r * ldo + 16 * v, m[v], sum);
        }
}

/* out[b * ldo + j] = sum_k a[b * lda + k] * W[j][k], b < B, j < nb <= 64, from one pair block:
 * tiles of 6 rows (24 sums and 4 weight vectors of the 32 registers at NV = 4), then the rest. */
BF16_TARGET static inline __attribute__((always_inline)) void
bf16_block_rows(const int NV, int B, int K, const bf16_t *restrict a, int lda, const bf16_t *restrict blk, int nb,
                float *restrict out, int ldo)
{
    __mmask16 m[4];
    for (int v = 0; v < 4; v++) {
        const int left = nb - 16 * v;
        m[v] = left >= 16 ? (__mmask16)0xffff : left > 0 ? (__mmask16)((1u << left) - 1u) : 0;
    }
    int b = 0;
    for (; b + 6 <= B; b += 6)
        bf16_row_tile(6, NV, NV >= 2 ? 1 : 2, K, a + (size_t)b * lda, lda, blk, nb, m, out + (size_t)b * ldo, ldo);
    const bf16_t *ab = a + (size_t)b * lda;
    float *o = out + (size_t)b * ldo;
    switch (B - b) {
    case 5: bf16_row_tile(5, NV, NV >= 2 ? 1 : 2, K, ab, lda, blk, nb, m, o, ldo); break;
    case 4: bf16_row_tile(4, NV, NV >= 2 ? 1 : 2, K, ab, lda, blk, nb, m, o, ldo); break;
    case 3: bf16_row_tile(3, NV, NV >= 3 ? 1 : 2, K, ab, lda, blk, nb, m, o, ldo); break;
    case 2: bf16_row_tile(2, NV, 2, K, ab, lda, blk, nb, m, o, ldo); break;
    case 1: bf16_row_tile(1, NV, 2, K, ab, lda, blk, nb, m, o, ldo); break;
    default: break;
    }
}

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
static double bf16_vector_peak_gflops(int dot) { (void)dot; return 0.0; }
static int bf16_dot_supported(void) { return 0; }
static double bf16_dot_rate(void) { return 0.0; }
static void bf16_block_product(int B, int K, const bf16_t *a, int lda, const bf16_t *blk, int nb, float *out,
                               int ldo)
{
    (void)B, (void)K, (void)a, (void)lda, (void)blk, (void)nb, (void)out, (void)ldo;   /* never chosen */
}
#endif

/* AMX (Intel's tile unit): TDPBF16PS multiplies a 16 x 32 bf16 tile of rows by a 32 x 16 tile of
 * weights (as 16 pairs x 16 units x 2) into a 16 x 16 float tile, 16 times the work of one
 * VDPBF16PS. Its weight tiles are the pair blocks above with every block padded with zeros to
 * whole tiles: K to a multiple of AMX_K (the padded k multiply zeros), the nb units to a multiple
 * of AMX_N (the padded units are computed and never stored), AMX_N * roundup(K, AMX_K) bf16 per
 * tile column; the rows a product multiplies are padded likewise (row stride roundup(K, AMX_K),
 * zeros past K), so that no tile load reads past what was written. Linux hands a process the
 * tile state only after it asks (arch_prctl ARCH_REQ_XCOMP_PERM), which amx_supported() does. */
#define AMX_K 32   /* bf16 per tile row (64 bytes) */
#define AMX_N 16   /* units per weight / sum tile */
#define AMX_M 16   /* rows per tile */

static inline int amx_round(int n, int to) { return (n + to - 1) / to * to; }

/* Rows [0, nb) of W ([nb][K], row j at w + j*K) as one padded pair block [Kp/2][nbp][2],
 * Kp = roundup(K, AMX_K), nbp = roundup(nb, AMX_N), zeros past K and nb. */
static void amx_pack_pairs(int K, int nb, const bf16_t *restrict w, bf16_t *restrict blk)
{
    const int Kp = amx_round(K, AMX_K), nbp = amx_round(nb, AMX_N);
    for (int k = 0; k < Kp; k += 2)
        for (int j = 0; j < nbp; j++) {
            bf16_t *to = blk + (size_t)k * nbp + 2 * j;
            to[0] = j < nb && k < K ? w[(size_t)j * K + k] : 0;
            to[1] = j < nb && k + 1 < K ? w[(size_t)j * K + k + 1] : 0;
        }
}

/* (Linux only: elsewhere there is no arch_prctl to ask for the tile state with) */
#if PYRNN_HAVE_BF16_DOT && (__GNUC__ >= 11 || defined(__clang__)) && defined(__linux__)
#define PYRNN_HAVE_AMX 1
#include <sys/syscall.h>
#include <unistd.h>
#define AMX_TARGET __attribute__((target("amx-tile,amx-bf16,avx512f,avx512bw,avx512bf16")))
#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

static int amx_supported(void)
{
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("amx-tile") || !__builtin_cpu_supports("amx-bf16")) return 0;
    return syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
}

/* Tiles 0-3: sums (rows x 16 floats); 4: rows (rows x 32 bf16); 5, 6: weights (16 pairs x 16
 * units), alternating so that a load can overlap the product before it. The configuration is the
 * thread's (LDTILECFG): amx_begin() forgets what this thread had loaded (another library may have
 * loaded its own between our calls), amx_use_rows() loads one for `rows` rows when it differs. */
struct amx_config {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
};
static __thread int amx_rows_loaded;

static void amx_begin(void) { amx_rows_loaded = 0; }

AMX_TARGET static void amx_use_rows(int rows)
{
    if (rows == amx_rows_loaded) return;
    struct amx_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int t = 0; t < 5; t++) {
        cfg.colsb[t] = 64;
        cfg.rows[t] = (uint8_t)rows;
    }
    for (int t = 5; t < 7; t++) {
        cfg.colsb[t] = 64;
        cfg.rows[t] = AMX_K / 2;
    }
    /* (not _tile_loadconfig: gcc 12's tells the compiler it reads 8 bytes, and the stores of the
     * rest of the configuration can then be dropped as dead) */
    __asm__ volatile("ldtilecfg %0" ::"m"(cfg));
    amx_rows_loaded = rows;
}

AMX_TARGET static void amx_end(void)
{
    if (amx_rows_loaded) _tile_release();
    amx_rows_loaded = 0;
}

/* One core's TDPBF16PS rate in GFLOP/s (four independent sums, operands in the tiles), best of 3. */
AMX_TARGET static double amx_peak_gflops(void)
{
    const long n = 1L << 16;
    double best = 1e30;
    amx_begin();
    amx_use_rows(AMX_M);
    _tile_zero(4);
    _tile_zero(5);
    _tile_zero(6);
    for (int r = 0; r < 3; r++) {
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (long i = 0; i < n; i++) {
            _tile_dpbf16ps(0, 4, 5);
            _tile_dpbf16ps(1, 4, 6);
            _tile_dpbf16ps(2, 4, 5);
            _tile_dpbf16ps(3, 4, 6);
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        const double t = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
        if (t < best) best = t;
    }
    amx_end();
    return 4.0 * n * AMX_M * AMX_N * AMX_K * 2 / best * 1e-9;
}

/* The loaded rows of a (row stride lda bf16, Kp = a multiple of AMX_K) times one padded block of
 * NV tile columns into out (row stride ldo); the first nb units are stored, a partial last tile
 * through a scratch tile. NV is a constant after inlining (tile numbers are immediates). */
AMX_TARGET static inline __attribute__((always_inline)) void
amx_row_tile(const int NV, int rows, int Kp, const bf16_t *a, int lda, const bf16_t *blk, int nb, float *out,
             int ldo)
{
    const int nbp = NV * AMX_N;
    const size_t wstride = (size_t)nbp * 2 * sizeof(bf16_t);   /* bytes from one pair row to the next */
    _tile_zero(0);
    if (NV > 1) _tile_zero(1);
    if (NV > 2) _tile_zero(2);
    if (NV > 3) _tile_zero(3);
    for (int k = 0; k < Kp; k += AMX_K) {
        const bf16_t *w = blk + (size_t)k * nbp;   /* pair row k/2 */
        _tile_loadd(4, a + k, lda * (int)sizeof(bf16_t));
        _tile_loadd(5, w, wstride);
        _tile_dpbf16ps(0, 4, 5);
        if (NV > 1) {
            _tile_loadd(6, w + 2 * AMX_N, wstride);
            _tile_dpbf16ps(1, 4, 6);
        }
        if (NV > 2) {
            _tile_loadd(5, w + 4 * AMX_N, wstride);
            _tile_dpbf16ps(2, 4, 5);
        }
        if (NV > 3) {
            _tile_loadd(6, w + 6 * AMX_N, wstride);
            _tile_dpbf16ps(3, 4, 6);
        }
    }
    const int full = nb / AMX_N;   /* tiles whose 16 units are all stored */
    float part[AMX_M * AMX_N];
#define AMX_STORE(t)                                                                                   \
    if (NV > t) {                                                                                      \
        if (t < full)                                                                                  \
            _tile_stored(t, out + t * AMX_N, ldo * (int)sizeof(float));                                \
        else {                                                                                         \
            _tile_stored(t, part, AMX_N * (int)sizeof(float));                                         \
            for (int r = 0; r < rows; r++)                                                             \
                memcpy(out + (size_t)r * ldo + t * AMX_N, part + r * AMX_N, sizeof(float) * (nb - t * AMX_N)); \
        }                                                                                              \
    }
    AMX_STORE(0)
    AMX_STORE(1)
    AMX_STORE(2)
    AMX_STORE(3)
#undef AMX_STORE
}

/* out[m * ldo + j] = sum_k a[m * lda + k] W[j][k], m < M, j < nb <= 4 * AMX_N, from one padded
 * block: AMX_M rows at a time; when M is not a multiple, the last tile overlaps the one before
 * (its rows are computed twice, to the same sums), and fewer than AMX_M rows take one tile of M. */
AMX_TARGET static void amx_block_product(int M, int Kp, const bf16_t *a, int lda, const bf16_t *blk, int nb,
                                         float *out, int ldo)
{
    const int rows = M < AMX_M ? M : AMX_M;
    amx_use_rows(rows);
    for (int m = 0; m < M; m += AMX_M) {
        const int m0 = m + rows <= M ? m : M - rows;
        const bf16_t *am = a + (size_t)m0 * lda;
        float *om = out + (size_t)m0 * ldo;
        switch ((nb + AMX_N - 1) / AMX_N) {
        case 4: amx_row_tile(4, rows, Kp, am, lda, blk, nb, om, ldo); break;
        case 3: amx_row_tile(3, rows, Kp, am, lda, blk, nb, om, ldo); break;
        case 2: amx_row_tile(2, rows, Kp, am, lda, blk, nb, om, ldo); break;
        default: amx_row_tile(1, rows, Kp, am, lda, blk, nb, om, ldo);
        }
    }
}
#else
#define PYRNN_HAVE_AMX 0
static int amx_supported(void) { return 0; }
static double amx_peak_gflops(void) { return 0.0; }
static void amx_begin(void) {}
static void amx_end(void) {}
static void amx_block_product(int M, int Kp, const bf16_t *a, int lda, const bf16_t *blk, int nb, float *out,
                              int ldo)
{
    (void)M, (void)Kp, (void)a, (void)lda, (void)blk, (void)nb, (void)out, (void)ldo;   /* never chosen */
}
#endif

#endif /* PYRNN_BF16_H */
