/* AMX tile kernels for the bf16 step product, timed alone (Linux, a CPU with AMX-BF16).
 *
 *   gcc -O2 -o /tmp/amx_tile_kernels benchmarks/dev/amx_tile_kernels.c
 *   taskset -c 0 /tmp/amx_tile_kernels BLOCKS STEPS OUT_STRIDE POLLUTE_KB
 *
 * One "step" multiplies 64 rows of h (bf16, K = 512) by BLOCKS pair blocks of W_hh (64 units x
 * K each, the layout of csrc/pyrnn_bf16.h: [K/2][64][2]), BLOCKS = 16 being one thread's 1 MB of
 * the large LSTM's W_hh (G*H = 2048 over 2 threads). The sums go to a [64][OUT_STRIDE] float array
 * (64: compact; 2048: the row stride of pyrnn's per-step product). Before each step, POLLUTE_KB
 * of other memory is touched (one write per cache line), standing in for what the rest of a step
 * reads and writes (pre, the product, the gate rows), which can push W_hh out of L2.
 *
 * Three kernels:
 *   1x4     what pyrnn_bf16.h does: 16 rows x 64 units per pass, one row tile, two weight tiles
 *           alternating (each reload waits for the product that read the tile before);
 *   2x2     32 rows x 32 units: two row tiles, two weight tiles, four sums;
 *   1x4 3W  as 1x4 with three weight tiles in rotation.
 * It prints ns per TDPBF16PS, GFLOP/s and us per step (the time of the pollution included: run
 * with BLOCKS = 0 to see that alone).
 */
#define _GNU_SOURCE
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define K 512
#define ROWS 64
#define UNITS 64
#define MAX_BLOCKS 32

struct tile_config {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
};

static uint16_t h16[ROWS * K] __attribute__((aligned(64)));
static uint16_t w_all[MAX_BLOCKS * K * UNITS] __attribute__((aligned(64)));
static float out[ROWS * 2048] __attribute__((aligned(64)));
static float pollution[1 << 20];
static const uint16_t *w;   /* the block of this pass */
static int ldo = UNITS, col0 = 0;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

#define AMX __attribute__((target("amx-tile,amx-bf16")))
#define STORE(tile, row, unit) _tile_stored(tile, out + (size_t)(row) * ldo + col0 + (unit), ldo * 4)

AMX static void kernel_1x4(int m0)
{
    const uint16_t *a = h16 + m0 * K;
    _tile_zero(0); _tile_zero(1); _tile_zero(2); _tile_zero(3);
    for (int k = 0; k < K; k += 32) {
        const uint16_t *wk = w + k * UNITS;
        _tile_loadd(4, a + k, K * 2);
        _tile_loadd(5, wk, 256);      _tile_dpbf16ps(0, 4, 5);
        _tile_loadd(6, wk + 32, 256); _tile_dpbf16ps(1, 4, 6);
        _tile_loadd(5, wk + 64, 256); _tile_dpbf16ps(2, 4, 5);
        _tile_loadd(6, wk + 96, 256); _tile_dpbf16ps(3, 4, 6);
    }
    STORE(0, m0, 0); STORE(1, m0, 16); STORE(2, m0, 32); STORE(3, m0, 48);
}

AMX static void kernel_2x2(int m0, int c0)
{
    const uint16_t *a = h16 + m0 * K;
    _tile_zero(0); _tile_zero(1); _tile_zero(2); _tile_zero(3);
    for (int k = 0; k < K; k += 32) {
        const uint16_t *wk = w + k * UNITS + 2 * c0;
        _tile_loadd(4, a + k, K * 2);
        _tile_loadd(6, wk, 256);          _tile_dpbf16ps(0, 4, 6);
        _tile_loadd(7, wk + 32, 256);     _tile_dpbf16ps(1, 4, 7);
        _tile_loadd(5, a + 16 * K + k, K * 2);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
    }
    STORE(0, m0, c0); STORE(1, m0, c0 + 16); STORE(2, m0 + 16, c0); STORE(3, m0 + 16, c0 + 16);
}

AMX static void kernel_1x4_three_weights(int m0)
{
    const uint16_t *a = h16 + m0 * K;
    _tile_zero(0); _tile_zero(1); _tile_zero(2); _tile_zero(3);
    for (int k = 0; k < K; k += 64) {
        const uint16_t *wk = w + k * UNITS;
        _tile_loadd(4, a + k, K * 2);
        _tile_loadd(5, wk, 256);      _tile_dpbf16ps(0, 4, 5);
        _tile_loadd(6, wk + 32, 256); _tile_dpbf16ps(1, 4, 6);
        _tile_loadd(7, wk + 64, 256); _tile_dpbf16ps(2, 4, 7);
        _tile_loadd(5, wk + 96, 256); _tile_dpbf16ps(3, 4, 5);
        wk += 32 * UNITS;
        _tile_loadd(4, a + k + 32, K * 2);
        _tile_loadd(6, wk, 256);      _tile_dpbf16ps(0, 4, 6);
        _tile_loadd(7, wk + 32, 256); _tile_dpbf16ps(1, 4, 7);
        _tile_loadd(5, wk + 64, 256); _tile_dpbf16ps(2, 4, 5);
        _tile_loadd(6, wk + 96, 256); _tile_dpbf16ps(3, 4, 6);
    }
    STORE(0, m0, 0); STORE(1, m0, 16); STORE(2, m0, 32); STORE(3, m0, 48);
}

AMX int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: %s BLOCKS STEPS OUT_STRIDE POLLUTE_KB\n", argv[0]);
        return 2;
    }
    const int blocks = atoi(argv[1]), steps = atoi(argv[2]), pollute_kb = atoi(argv[4]);
    ldo = atoi(argv[3]);
    if (blocks < 0 || blocks > MAX_BLOCKS || steps < 1 || (ldo != UNITS && ldo != 2048) || pollute_kb < 0 ||
        pollute_kb > 4096) {
        fprintf(stderr, "BLOCKS 0..%d, STEPS >= 1, OUT_STRIDE 64 or 2048, POLLUTE_KB 0..4096\n", MAX_BLOCKS);
        return 2;
    }
    if (syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XTILEDATA */)) {
        fprintf(stderr, "no AMX here (or the OS does not grant it)\n");
        return 1;
    }
    struct tile_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int t = 0; t < 8; t++) {
        cfg.colsb[t] = 64;
        cfg.rows[t] = 16;
    }
    __asm__ volatile("ldtilecfg %0" ::"m"(cfg));
    for (size_t i = 0; i < sizeof h16 / 2; i++) h16[i] = 0x3f80;     /* 1.0 */
    for (size_t i = 0; i < sizeof w_all / 2; i++) w_all[i] = 0x3c00; /* 2^-7 */
    const char *names[3] = {"1x4", "2x2", "1x4 3W"};
    for (int v = 0; v < 3; v++) {
        double best = 1e30;
        for (int round = 0; round < 5; round++) {
            const double t0 = now();
            for (int s = 0; s < steps; s++) {
                for (size_t q = 0; q < (size_t)pollute_kb * 256; q += 16) pollution[q] += 1.0f;
                for (int b = 0; b < blocks; b++) {
                    w = w_all + (size_t)b * K * UNITS;
                    col0 = ldo > UNITS ? b * UNITS % ldo : 0;
                    if (v == 0)
                        for (int m = 0; m < ROWS; m += 16) kernel_1x4(m);
                    else if (v == 1)
                        for (int m = 0; m < ROWS; m += 32) {
                            kernel_2x2(m, 0);
                            kernel_2x2(m, 32);
                        }
                    else
                        for (int m = 0; m < ROWS; m += 16) kernel_1x4_three_weights(m);
                }
            }
            const double t = now() - t0;
            if (t < best) best = t;
        }
        const double dps = (double)steps * blocks * (ROWS / 16) * (UNITS / 16) * (K / 32);
        printf("%d blocks (%d KB of W), out stride %d, %d KB touched per step, %-6s: %6.2f ns per TDPBF16PS, "
               "%5.0f GFLOP/s, %6.1f us per step\n",
               blocks, blocks * K * UNITS * 2 / 1024, ldo, pollute_kb, names[v], dps > 0 ? best / dps * 1e9 : 0.0,
               dps > 0 ? dps * 16 * 16 * 32 * 2 / best * 1e-9 : 0.0, best / steps * 1e6);
    }
    _tile_release();
    if (blocks > 0) printf("(check: out[0] = %g, expected %g)\n", out[0], K * 1.0 / 128);
    return 0;
}
