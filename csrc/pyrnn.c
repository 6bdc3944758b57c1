/*
 * pyrnn C kernels: argument checks, threading policy, and the public entry
 * points of pyrnn.h. The math lives in pyrnn_gates.h (pointwise, per cell)
 * and pyrnn_generic.inc (time loops); both are compiled once for float and
 * once for double below.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE   /* syscall(), for the AMX permission (pyrnn_bf16.h) */
#endif
#include "pyrnn.h"

#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <strings.h>
#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#else
static int omp_get_num_threads(void) { return 1; }
static int omp_get_thread_num(void) { return 0; }
static int omp_get_max_threads(void) { return 1; }
#endif

#include "pyrnn_blas.h"
#include "pyrnn_bf16.h"
#if defined(__AVX512F__)
#include <immintrin.h>   /* masked loads of a partial vector (pyrnn_generic.inc) */
#endif

/* Threads' slices of hidden units are rounded up to multiples of this (16 floats
 * = one cache line) when they are larger, so that for one batch row two threads
 * rarely write the same cache line of h or c (false sharing costs time, never
 * correctness: every thread writes only its own units). */
#define UNIT_ALIGN 16

/* From this many steps on, W_hh is packed once per call into register-tile
 * blocks (pyrnn_generic.inc); a cell's single step uses BLAS on W_hh as it is. */
#define PACK_MIN_STEPS 8

/* Smallest recurrent work per step (multiply-adds, B * G*H * H) worth one
 * more thread: below it the barrier between steps costs more than the
 * split saves (measured on the project machine; override with
 * PYRNN_C_MIN_WORK). */
#define DEFAULT_MIN_WORK 16384

static int g_thread_cap = 0;          /* 0 = OpenMP's default */
static long g_min_work = -1;          /* read from the environment once */
static int g_step_blas = 0;           /* PYRNN_C_STEP_GEMM=blas: per-step products through BLAS */
static int g_batch_split = 1;         /* PYRNN_C_BATCH_SPLIT=0: every call splits the hidden units */
#define STEP_BARRIER_SPINS 20000      /* rounds a thread spins at a step barrier before it sleeps (~0.1-0.5 ms) */
static long g_barrier_spins = STEP_BARRIER_SPINS;   /* 0 under OMP_WAIT_POLICY=passive */
static pthread_once_t g_init_once = PTHREAD_ONCE_INIT;
/* The bf16 paths (pyrnn_bf16.h). VDPBF16PS does two multiply-adds per lane where an FMA does one,
 * but how fast it retires depends on the CPU: at half the FMA rate or less (a Xeon with
 * AVX512-BF16: 0.24 per FMA) it has less compute than float and pays only where a product streams
 * weights for few rows, the per-step product at batch <= BF16_DOT_MAX_BATCH (bf16 halves the bytes
 * of W_hh); where it retires at more than BF16_DOT_ALL_RATE per FMA (a Zen 5 EPYC: 0.93) every
 * product takes it, the input projection included. The threshold sits a little below the 0.5 of
 * equal compute because the portable path also pays for widening the operands (it took 1.04-1.18x
 * the float32 time on the Zen 5), and far from both measured CPUs. The rate is measured once,
 * well under 1 ms, at the first call. */
#define BF16_DOT_MAX_BATCH 4
#define BF16_DOT_ALL_RATE 0.45
#define PYRNN_XSTR(x) #x
#define PYRNN_STR(x) PYRNN_XSTR(x)
/* AMX: products of at least BF16_AMX_MIN_ROWS rows go to the tiles, smaller ones as on the
 * small-batch path (a tile costs about the same for 1 row as for 16: measured on a Xeon with AMX,
 * the tiles were ahead from 3 rows on, VDPBF16PS at 1 and 2). */
#define BF16_AMX_MIN_ROWS 3
enum { BF16_PORTABLE = 0, BF16_DOT_SMALL_BATCH = 1, BF16_DOT_EVERY_PRODUCT = 2, BF16_AMX = 3 };
/* How one product multiplies: widened float kernels, VDPBF16PS pair blocks, AMX tile blocks. */
enum { PRODUCT_WIDE = 0, PRODUCT_DOT = 1, PRODUCT_AMX = 2 };

static int g_bf16_best = BF16_PORTABLE;   /* the best path this CPU runs (decided once) */
static int g_bf16_path = BF16_PORTABLE;   /* the path in effect */
static double g_bf16_rate = 0.0;          /* VDPBF16PS per FMA, as measured (0: not run) */
static int g_amx = 0;                     /* AMX-BF16 there and granted by the OS */
/* What pyrnn_bf16_path() says for each path: written once in init_once, read-only after (callers
 * may hold the text while another thread switches the path). */
static char g_bf16_path_text[4][240] = {"portable (bf16 widened to float, float kernels)"};

static int bf16_path_named(const char *name)
{
    if (strcmp(name, "portable") == 0) return BF16_PORTABLE;
    if (strcmp(name, "small-batch") == 0) return BF16_DOT_SMALL_BATCH;
    if (strcmp(name, "every-product") == 0) return BF16_DOT_EVERY_PRODUCT;
    if (strcmp(name, "amx") == 0) return BF16_AMX;
    return -1;
}

/* The path asked for (-1: the best) where this CPU runs it, else the nearest it runs. */
static int bf16_path_available(int asked)
{
    if (asked < 0) return g_bf16_best;
    if (g_bf16_best == BF16_PORTABLE) return BF16_PORTABLE;
    if (asked == BF16_AMX && !g_amx) return g_bf16_best;
    return asked;
}

static void init_once(void)
{
    pyrnn_blas_single_thread();
    const char *env = getenv("PYRNN_C_MIN_WORK");
    long v = env ? strtol(env, NULL, 10) : 0;
    g_min_work = v > 0 ? v : DEFAULT_MIN_WORK;
    const char *step = getenv("PYRNN_C_STEP_GEMM");
    g_step_blas = step && strcmp(step, "blas") == 0;
    const char *batch = getenv("PYRNN_C_BATCH_SPLIT");
    g_batch_split = !(batch && strcmp(batch, "0") == 0);
    const char *wait = getenv("OMP_WAIT_POLICY");   /* as libgomp reads it: passive threads do not spin */
    if (wait && strcasecmp(wait, "passive") == 0) g_barrier_spins = 0;
    if (bf16_dot_supported()) {
        g_bf16_rate = bf16_dot_rate();
        g_bf16_best = g_bf16_rate > BF16_DOT_ALL_RATE ? BF16_DOT_EVERY_PRODUCT : BF16_DOT_SMALL_BATCH;
        g_amx = amx_supported();   /* every CPU with AMX-BF16 has AVX512-BF16 */
        if (g_amx) g_bf16_best = BF16_AMX;
    }
    /* $PYRNN_C_BF16_PATH = portable | small-batch | every-product | amx: that path where the CPU has it */
    const char *path = getenv("PYRNN_C_BF16_PATH");
    g_bf16_path = bf16_path_available(path ? bf16_path_named(path) : -1);
    snprintf(g_bf16_path_text[BF16_DOT_SMALL_BATCH], sizeof g_bf16_path_text[0],
             "avx512-bf16 small-batch (VDPBF16PS step products at batch <= " PYRNN_STR(BF16_DOT_MAX_BATCH)
             ", float kernels on widened bf16 otherwise; VDPBF16PS retires at %.2f per float FMA on this CPU)",
             g_bf16_rate);
    snprintf(g_bf16_path_text[BF16_DOT_EVERY_PRODUCT], sizeof g_bf16_path_text[0],
             "avx512-bf16 every-product (VDPBF16PS for every product; it retires at %.2f per float FMA on this CPU)",
             g_bf16_rate);
    snprintf(g_bf16_path_text[BF16_AMX], sizeof g_bf16_path_text[0],
             "amx (AMX-BF16 tiles for the products of >= " PYRNN_STR(BF16_AMX_MIN_ROWS)
             " rows; smaller step products on VDPBF16PS, a smaller input projection on widened bf16)");
}

/* The kind of kernel (PRODUCT_*) that multiplies `rows` rows on `path`: a per-step product
 * (W_hh, W_hr) when step, else the input projection. */
static int product_kind(int path, long rows, int step)
{
    const int dot_small = step && rows <= BF16_DOT_MAX_BATCH;
    switch (path) {
    case BF16_DOT_EVERY_PRODUCT: return PRODUCT_DOT;
    case BF16_DOT_SMALL_BATCH: return dot_small ? PRODUCT_DOT : PRODUCT_WIDE;
    case BF16_AMX: return rows >= BF16_AMX_MIN_ROWS ? PRODUCT_AMX : dot_small ? PRODUCT_DOT : PRODUCT_WIDE;
    default: return PRODUCT_WIDE;
    }
}

int pyrnn_set_bf16_path(int path)
{
    pthread_once(&g_init_once, init_once);
    const int in_effect = bf16_path_available(path >= 1 && path <= 4 ? path - 1 : -1);   /* 0 (or unknown): the best */
    __atomic_store_n(&g_bf16_path, in_effect, __ATOMIC_RELAXED);
    return in_effect;
}

double pyrnn_peak_gflops(int unit)
{
    pthread_once(&g_init_once, init_once);
    switch (unit) {
    case 0: return bf16_dot_supported() ? bf16_vector_peak_gflops(0) : 0.0;   /* (the same AVX-512 code) */
    case 1: return bf16_dot_supported() ? bf16_vector_peak_gflops(1) : 0.0;
    case 2: return g_amx ? amx_peak_gflops() : 0.0;
    default: return 0.0;
    }
}

const char *pyrnn_bf16_path(void)
{
    pthread_once(&g_init_once, init_once);
    return g_bf16_path_text[__atomic_load_n(&g_bf16_path, __ATOMIC_RELAXED)];
}

void pyrnn_set_num_threads(int n) { g_thread_cap = n > 0 ? n : 0; }

int pyrnn_get_num_threads(void)
{
    int max = omp_get_max_threads();
    return g_thread_cap > 0 && g_thread_cap < max ? g_thread_cap : max;
}

const char *pyrnn_blas_kernels(void)
{
    const char *core = pyrnn_blas_core();
    return core ? core : "";
}

const char *pyrnn_build_info(void)
{
    return "BLAS: " PYRNN_BLAS_NAME
#ifdef _OPENMP
           "; OpenMP: yes"
#else
           "; OpenMP: no (single thread)"
#endif
#if defined(__SANITIZE_ADDRESS__)
           "; AddressSanitizer"
#endif
#ifdef __AVX512F__
           "; SIMD: AVX-512"
#elif defined(__AVX2__)
           "; SIMD: AVX2"
#endif
        ;
}

/* The LSTMs carry a cell state c besides h. */
static int has_cell_state(int mode)
{
    return mode == PYRNN_LSTM || mode == PYRNN_LSTM_PROJ || mode == PYRNN_LAYERNORM_LSTM;
}

static int gates_of(int mode) { return has_cell_state(mode) ? 4 : mode == PYRNN_GRU ? 3 : 1; }

/* [T][B][H] arrays kept for backward after h_prev [T][B][P]: LSTM c_prev, tanh_c (LSTM_PROJ:
 * and m = o * tanh(c), what W_hr projects; LAYERNORM_LSTM: c_prev, chat, tanh_n, then the
 * [T][B][4H] arrays xhat, hhat and the [T*B] 1/std of the three layer norms) | GRU hn | nothing. */
static int saved_h_arrays(int mode)
{
    return mode == PYRNN_LSTM_PROJ || mode == PYRNN_LAYERNORM_LSTM ? 3 : mode == PYRNN_LSTM ? 2
           : mode == PYRNN_GRU ? 1 : 0;
}

static int valid_mode(int mode) { return mode >= PYRNN_RNN_TANH && mode <= PYRNN_LAYERNORM_LSTM; }

/* The layer norms' row statistics: each thread sums its own units of a row into a partial
 * (count, mean, M2 - forward; two sums - backward), in double, and after one barrier every
 * thread merges the partials of the rows it needs. Partials: [LN_MAX_THREADS][B][3] doubles,
 * two such buffers (so that one phase's reads never meet the next phase's writes). */
#define LN_MAX_THREADS 64
#define LN_EPS 1e-5

static size_t ln_partials_doubles(int B) { return 2 * (size_t)LN_MAX_THREADS * B * 3; }

/* mean and 1/sqrt(var + eps) of row b from the (count, mean, M2) partials of nt threads (Chan et al.). */
static void ln_merge(const double *part, int nt, int B, int b, double *mean, double *rstd)
{
    double n = 0.0, s = 0.0, m2 = 0.0;
    for (int k = 0; k < nt; k++) {
        const double *p = part + ((size_t)k * B + b) * 3;
        n += p[0];
        s += p[0] * p[1];
    }
    const double mu = n > 0.0 ? s / n : 0.0;
    for (int k = 0; k < nt; k++) {
        const double *p = part + ((size_t)k * B + b) * 3;
        m2 += p[2] + p[0] * (p[1] - mu) * (p[1] - mu);
    }
    *mean = mu;
    *rstd = 1.0 / sqrt((n > 0.0 ? m2 / n : 0.0) + LN_EPS);
}

/* The two sums of row b over nt threads' partials, divided by n (backward: the means of LN's backward). */
static void ln_means(const double *part, int nt, int B, int b, double n, double *m1, double *m2)
{
    double s = 0.0, q = 0.0;
    for (int k = 0; k < nt; k++) {
        const double *p = part + ((size_t)k * B + b) * 3;
        s += p[0];
        q += p[1];
    }
    *m1 = s / n;
    *m2 = q / n;
}

/* The recurrence is elementwise (IndRNN: u * h): no W_hh product, and no thread
 * reads another's units, so the time loop needs no barrier per step. */
static int independent(int mode) { return mode == PYRNN_INDRNN_TANH || mode == PYRNN_INDRNN_RELU; }

static int relu_of(int mode) { return mode == PYRNN_RNN_RELU || mode == PYRNN_INDRNN_RELU; }

/* Offsets (in elements) of the sections of a forward work buffer, and its size:
 * the one description of that layout, for pyrnn_work_size, forward and backward
 * (which reuses the "a" and "packed" sections as scratch). See pyrnn_generic.inc. */
typedef struct {
    size_t pre, saved, a, hbuf, mbuf, biases, packed, lnbuf, packed_ih, total;
    /* the bf16 forward's own sections (layout_bf16; 0 otherwise) */
    size_t ystep, h16, m16, w_ih_wide, x_wide, hrpack, u_wide;
} work_layout;

/* A training forward's work buffer starts with this many elements of header: element 0 holds the
 * number of batch slices the forward ran (0: the hidden units split over the threads), which its
 * backward follows whatever the thread count is by then. */
#define WORK_HEADER 16

/* Every section starts on a multiple of 16 elements: 64 bytes from a work buffer that starts on
 * one (the Python side passes such a buffer). A tile row that straddles two cache lines costs
 * two: with W_hh's blocks 16 bytes off a line, the AMX step product ran 2-2.5x slower, 122-158
 * against 62 us per step alone (benchmarks/dev/amx_tile_kernels.c, Xeon with AMX). */
static size_t section(size_t offset) { return (offset + 15) / 16 * 16; }

/* Whether the per-step products use the packed W_hh blocks (else BLAS). */
static int steps_use_packed(int T, int B)
{
    return T >= PACK_MIN_STEPS && (B == 1 || !g_step_blas);
}

/* Whether the LSTM's inference forward may multiply x_t W_ih^T inside each step, in the same register tiles as
 * h W_hh^T (one sum of K = I + P terms, W_ih packed beside W_hh; pyrnn_generic.inc), instead of one
 * BLAS GEMM over all T*B rows before the loop: from FUSE_MIN_BATCH rows a step, where the tiles run
 * near the FMA peak. The GEMM's T*B x G*H result (pre) then never goes through memory before the
 * gate rows read it, and BLAS's beta = 0 pass over it is gone: the LSTM forward at T=35 B=64 H=128
 * took 0.7x the time (Zen 4 EPYC, measured). Below it a step's rows would stream W_ih for too few
 * rows; the forward also keeps the GEMM where the step products go to BLAS (PYRNN_C_STEP_GEMM). */
#define FUSE_MIN_BATCH 8
/* ... and while W_ih and W_hh together (G*H x (I + H) elements; 2 MB of float) stay in the threads'
 * L2 caches from step to step: at H = 512 and 650 the fused steps streamed them from L3 and ran
 * 1.0-1.2x the time of one GEMM before the loop (Zen 4 EPYC, 1 MB of L2 per core, measured). */
#define FUSE_MAX_ELEMENTS (512 * 1024)
/* (Training forwards keep the GEMM: fused, they took the same time, fwd+bwd 1.00x, measured.)
 * The one decision for the work layout and the forward (pre is one row when fused), so it reads the
 * environment first: a pyrnn_work_size before any kernel call must see PYRNN_C_STEP_GEMM too. */
static int inputs_fusable(int mode, int T, int B, int I, int H, int training)
{
    pthread_once(&g_init_once, init_once);
    return mode == PYRNN_LSTM && !training && steps_use_packed(T, B) && B >= FUSE_MIN_BATCH &&
           (size_t)4 * H * ((size_t)I + H) <= FUSE_MAX_ELEMENTS;
}

/* I: the input width (0: no section for the fused input blocks, as the bf16 forward, which has its own). */
static work_layout layout_of(int mode, int T, int B, int I, int H, int P, int training)
{
    const size_t G = (size_t)gates_of(mode), TB = (size_t)T * B;
    const size_t GH = G * H, a_width = GH > (size_t)P ? GH : (size_t)P;   /* backward: dh_rec [B][P] */
    /* the fused inference forward reads only pre's first row (zeros) */
    const int fused = I > 0 && inputs_fusable(mode, T, B, I, H, training);
    work_layout L;
    L.pre = training ? WORK_HEADER : 0;   /* a training forward says in the header how it split (batch_split) */
    L.saved = section(L.pre + (fused ? GH : TB * GH));
    const size_t ln_saved = mode == PYRNN_LAYERNORM_LSTM ? 2 * TB * GH + 3 * TB : 0;   /* xhat, hhat, 1/std */
    L.a = section(L.saved + (training ? TB * P + (size_t)saved_h_arrays(mode) * TB * H + ln_saved : 0));
    L.hbuf = section(L.a + (size_t)B * a_width);
    L.mbuf = section(L.hbuf + 2 * (size_t)B * P);
    L.biases = section(L.mbuf + (mode == PYRNN_LSTM_PROJ ? (size_t)B * H : 0));
    L.packed = section(L.biases + 2 * GH);
    /* the layer norms' partials: doubles, at an even element offset (8-byte aligned for float too),
     * counted as 2 elements each (enough for float and for double) */
    const size_t end = L.packed + (T >= PACK_MIN_STEPS && !independent(mode) ? GH * (size_t)P : 0);
    L.lnbuf = section(end);
    L.packed_ih = section(L.lnbuf + (mode == PYRNN_LAYERNORM_LSTM ? 2 * ln_partials_doubles(B) : 0));
    L.total = L.packed_ih + (fused ? GH * (size_t)I : 0);
    L.ystep = L.h16 = L.m16 = L.w_ih_wide = L.x_wide = L.hrpack = L.u_wide = 0;
    return L;
}

/* The bf16 forward (inference, float elements): the eval-mode sections, then
 *   packed  [G*H][P]   W_hh in any path's blocks, for any T (no bf16 BLAS for short runs)
 *   ystep   [B][P]     one step's y rows in float, before rounding
 *   h16     2*[B][Pk]  the state as bf16, ping-pong like hbuf (2 bf16 per float), rows padded
 *                      with zeros to Pk = roundup(P, AMX_K) (what a tile row reads)
 *   m16     [B][Hk]    LSTM_PROJ's m as bf16, likewise padded
 *   w_ih_wide [G*H][I] W_ih widened for float BLAS (the other paths keep its blocks here, per gate)
 *   x_wide  [T*B][I]   x widened, or (amx) as bf16 rows padded to Ik
 *   hrpack  [P][H]     LSTM_PROJ's W_hr in any path's blocks
 *   u_wide  [H]        IndRNN's u widened
 * A section of blocks takes the larger of the float blocks and the padded tile blocks (half a
 * float per bf16), so that the size does not depend on the path. */
static size_t floats_for_blocks(int N, int K, int groups)
{
    const size_t wide = (size_t)groups * N * K;
    const size_t tiles = ((size_t)groups * amx_round(N, AMX_N) * amx_round(K, AMX_K) + 1) / 2;
    return wide > tiles ? wide : tiles;
}

static work_layout layout_bf16(int mode, int T, int B, int I, int H, int P)
{
    work_layout L = layout_of(mode, T, B, 0, H, P, 0);
    const int G = gates_of(mode);
    const size_t TB = (size_t)T * B, BP = (size_t)B * P;
    const size_t x_wide = TB * I, x_padded = (TB * amx_round(I, AMX_K) + 1) / 2;   /* floats: widened / padded bf16 */
    L.packed = section(L.total);
    L.ystep = section(L.packed + (independent(mode) ? 0 : floats_for_blocks(H, P, G)));
    L.h16 = section(L.ystep + BP);
    L.m16 = section(L.h16 + (size_t)B * amx_round(P, AMX_K));
    L.w_ih_wide = section(L.m16 + (mode == PYRNN_LSTM_PROJ ? ((size_t)B * amx_round(H, AMX_K) + 1) / 2 : 0));
    L.x_wide = section(L.w_ih_wide + floats_for_blocks(H, I, G));
    L.hrpack = section(L.x_wide + (x_wide > x_padded ? x_wide : x_padded));
    L.u_wide = section(L.hrpack + (mode == PYRNN_LSTM_PROJ ? floats_for_blocks(P, H, 1) : 0));
    L.total = L.u_wide + (independent(mode) ? (size_t)H : 0);
    return L;
}

/* P is the width of h: H for every cell but LSTM_PROJ. */
static int valid_sizes(int mode, int T, int B, int H, int P)
{
    return valid_mode(mode) && T >= 1 && B >= 1 && H >= 1 && P >= 1 && (mode == PYRNN_LSTM_PROJ || P == H);
}

/* A call may split the batch instead of the hidden units: the sequences of a batch are
 * independent, so each thread runs the whole time loop (forward; backward's loop and dx) for its
 * own slice of the rows, with no barrier between steps and no narrow or uneven slice of units
 * (H = 200 gives 112 + 88 units by the unit split); in training the weight gradients are then
 * summed over the slices by GEMMs split over the threads as before. The cost is that every thread
 * streams all the weights a step reads (W_hh; W_ih too where an LSTM inference forward multiplies
 * x_t inside the step, inputs_fusable) at every step, so it takes sizes where they stay in a
 * core's L2. Measured on a 2-core Zen 4 EPYC (1 MB of L2 per core), float32, T = 35, in one
 * process against the unit split (docs/c-backend.md has the tables): training LSTM 0.78-0.98 of
 * the time at H = 64..200, GRU 0.80-0.93; inference LSTM 0.68-0.98 at H = 64..128, GRU 0.56-0.91,
 * RNN 0.74-0.96; W_hh of 1 MB (LSTM H = 256) 0.94-1.04 and B = 8 (4 rows a slice) 1.08, hence
 * the limits. */
#define BATCH_SPLIT_MAX 4              /* slices at most: work buffers are sized for this many */
#define BATCH_SPLIT_MIN_ROWS 8         /* rows per slice at least (a register tile is 6) */
#define BATCH_SPLIT_MAX_BYTES (768 * 1024)   /* what a step streams, at most */

/* The rules every batch split follows, float or bf16: a plain cell, enough steps and rows, and at
 * most BATCH_SPLIT_MAX_BYTES of weights streamed per step. */
static int batch_split_fits(int mode, int T, int B, size_t streamed_bytes)
{
    pthread_once(&g_init_once, init_once);
    const int plain = mode == PYRNN_LSTM || mode == PYRNN_GRU || mode == PYRNN_RNN_TANH || mode == PYRNN_RNN_RELU;
    return g_batch_split && plain && T >= PACK_MIN_STEPS && B >= 2 * BATCH_SPLIT_MIN_ROWS &&
           streamed_bytes <= BATCH_SPLIT_MAX_BYTES;
}

/* Whether a float/double call of these sizes may split its batch (elem: sizeof the element type). */
static int batch_split_allowed(int mode, int T, int B, int I, int H, int P, int training, size_t elem)
{
    pthread_once(&g_init_once, init_once);
    size_t streamed = (size_t)gates_of(mode) * H * P;   /* W_hh, and W_ih where a slice's step multiplies x_t */
    if (inputs_fusable(mode, T, BATCH_SPLIT_MIN_ROWS, I, H, training)) streamed += (size_t)gates_of(mode) * H * I;
    return !g_step_blas && batch_split_fits(mode, T, B, streamed * elem);
}

static int batch_slices_max(int B)
{
    const int by_rows = B / BATCH_SPLIT_MIN_ROWS;
    return by_rows < BATCH_SPLIT_MAX ? by_rows : BATCH_SPLIT_MAX;
}

/* Where a batch-split call keeps what: after the header, each slice's own work buffer (layout_of
 * for its rows), then x, y (and in backward dy) and dx gathered per slice: slice s of
 * rows [b0, b1) at T * b0 * width, as the [T][b1 - b0][width] array its time loops read.
 * bf16 (the bf16 forward): no header, layout_bf16 per slice, x and y as bf16 (two per float), no dx. */
typedef struct {
    int rows[BATCH_SPLIT_MAX + 1];   /* slice s holds the batch rows [rows[s], rows[s + 1]) */
    size_t slice[BATCH_SPLIT_MAX], xs, ys, dxs, total;
} batch_layout;

static void split(size_t n, int parts, int part, int align, int *lo, int *hi);

static batch_layout batch_layout_of(int mode, int T, int B, int I, int H, int P, int S, int training, int bf16)
{
    batch_layout L;
    size_t at = bf16 ? 0 : WORK_HEADER;   /* (the bf16 forward has no backward to tell its split) */
    L.rows[0] = 0;
    for (int s = 0; s < S; s++) {
        int b0;
        split(B, S, s, 1, &b0, &L.rows[s + 1]);
        L.slice[s] = at;
        const int Bt = L.rows[s + 1] - b0;
        at = section(at + (bf16 ? layout_bf16(mode, T, Bt, I, H, P) : layout_of(mode, T, Bt, I, H, P, training)).total);
    }
    const size_t TB = (size_t)T * B;
    L.xs = at;
    L.ys = section(L.xs + (bf16 ? (TB * I + 1) / 2 : TB * I));
    L.dxs = section(L.ys + (bf16 ? (TB * P + 1) / 2 : TB * P));
    L.total = L.dxs + (bf16 ? 0 : TB * I);
    return L;
}

size_t pyrnn_work_size(int mode, int T, int B, int I, int H, int P, int training)
{
    if (!valid_sizes(mode, T, B, H, P) || I < 1) return 0;
    const size_t units = layout_of(mode, T, B, I, H, P, training).total;
    if (!batch_split_allowed(mode, T, B, I, H, P, training, sizeof(float)))   /* (float: the wider limits) */
        return units;
    const size_t batch = batch_layout_of(mode, T, B, I, H, P, batch_slices_max(B), training, 0).total;
    return batch > units ? batch : units;
}

/* Where the backward scratch of the slice starting at batch row b0 begins: bwork holds [T*B] and (GRU)
 * [T][B][3H], as many rows per slice (pyrnn_backward_work_size is linear in B for the split cells). */
static size_t slice_bwork_offset(int mode, int T, int b0, int H, int P)
{
    return b0 ? pyrnn_backward_work_size(mode, T, b0, H, P) : 0;
}

/* The bf16 forward splits its batch (inference only) where W_hh's bf16 blocks fit the same L2
 * limit; its input projection is computed a chunk of steps at a time, not inside every step, so
 * W_hh is all a step streams. Only on the every-product path (pair blocks for every product, the
 * path measured: T = 100 B = 32 H = 256 on a Zen 4 EPYC took 0.90-0.96 of the time for the LSTM,
 * 0.93 for the GRU, two one-thread calls on half the batch each against one two-thread call). */
static int batch_split_allowed_bf16(int mode, int T, int B, int H, int P)
{
    return batch_split_fits(mode, T, B, (size_t)gates_of(mode) * H * P * sizeof(bf16_t));
}

size_t pyrnn_work_size_bf16(int mode, int T, int B, int I, int H, int P)
{
    if (!valid_sizes(mode, T, B, H, P) || I < 1) return 0;
    const size_t units = layout_bf16(mode, T, B, I, H, P).total;
    /* (a CPU without AVX512-BF16 never runs the every-product path, so never splits) */
    if (!batch_split_allowed_bf16(mode, T, B, H, P) || g_bf16_best == BF16_PORTABLE) return units;
    const size_t batch = batch_layout_of(mode, T, B, I, H, P, batch_slices_max(B), 0, 1).total;
    return batch > units ? batch : units;
}

/* Backward scratch: ones [T*B] for the bias sums, then GRU: d_hid [T][B][3H];
 * LSTM_PROJ: dh_out [T][B][P] (d loss / d h_t, for dW_hr), dm [B][H], zeros [H];
 * LAYERNORM_LSTM: d_hid [T][B][4H] (d loss / d W_hh h_{t-1}), da_x [T][B][4H] (d loss / d W_ih x_t). */
size_t pyrnn_backward_work_size(int mode, int T, int B, int H, int P)
{
    if (!valid_sizes(mode, T, B, H, P)) return 0;
    const size_t TB = (size_t)T * B;
    return TB + (mode == PYRNN_GRU ? TB * 3 * H : 0)
              + (mode == PYRNN_LSTM_PROJ ? TB * P + (size_t)B * H + H : 0)
              + (mode == PYRNN_LAYERNORM_LSTM ? 2 * TB * 4 * H : 0);
}

/* [lo, hi) of n items for part `part` of `parts`; chunks rounded up to `align` when larger
 * (to -align always, when align < 0: the bf16 tile blocks need every part to start on a tile). */
static void split(size_t n, int parts, int part, int align, int *lo, int *hi)
{
    size_t chunk = (n + parts - 1) / parts;
    if (align < 0) chunk = (chunk + (size_t)-align - 1) / (size_t)-align * (size_t)-align;
    else if (align > 1 && chunk > (size_t)align) chunk = (chunk + align - 1) / align * align;
    size_t l = chunk * part, h = l + chunk;
    *lo = (int)(l < n ? l : n);
    *hi = (int)(h < n ? h : n);
}

static int threads_for(int mode, int T, int B, int I, int GH, int H, int P)
{
    pthread_once(&g_init_once, init_once);
    /* Per step: B * G*H * P multiply-adds (and B * P * H for a projection) and a barrier; an
     * elementwise recurrence has neither, so there the input projection (T*B * H * I) decides. */
    const double work = independent(mode) ? (double)T * B * H * I / 8.0
                                          : (double)B * GH * P + (mode == PYRNN_LSTM_PROJ ? (double)B * P * H : 0.0);
    int n = pyrnn_get_num_threads();
    const int by_work = (int)(work / (double)g_min_work);
    if (by_work < n) n = by_work;
    const int by_units = (H + UNIT_ALIGN - 1) / UNIT_ALIGN;   /* threads beyond this would get no units */
    if (by_units < n) n = by_units;
    if (mode == PYRNN_LAYERNORM_LSTM && n > LN_MAX_THREADS) n = LN_MAX_THREADS;   /* its partials' room */
    return n < 1 ? 1 : n;
}

/* How many slices a batch split would use now (0: split the hidden units instead): as many as
 * the threads, the rows (batch_slices_max) and the per-step work (threads_for's rule) allow. */
static int batch_split_threads(int mode, int T, int B, int I, int H, int P)
{
    int n = pyrnn_get_num_threads();
    const int by_rows = batch_slices_max(B);
    if (by_rows < n) n = by_rows;
    const double work = (double)B * gates_of(mode) * H * P;
    const int by_work = (int)(work / (double)g_min_work);
    if (by_work < n) n = by_work;
    /* (the unit split may use more threads: many cores, few rows) */
    return n < 2 || n < threads_for(mode, T, B, I, gates_of(mode) * H, H, P) ? 0 : n;
}

/* batch_split_threads' slices where their layout fits the work buffer, which pyrnn_work_size
 * (pyrnn_work_size_bf16) sized for batch_slices_max; else 0 (split the hidden units). */
static int sized_batch_slices(int mode, int T, int B, int I, int H, int P, int training, int bf16)
{
    const int n = batch_split_threads(mode, T, B, I, H, P);
    return n && batch_layout_of(mode, T, B, I, H, P, n, training, bf16).total <=
                batch_layout_of(mode, T, B, I, H, P, batch_slices_max(B), training, bf16).total ? n : 0;
}

/* The batch slices of a forward now (one per thread; 0: split the hidden units), never more than
 * the work buffer was sized for (pyrnn_work_size: float's limits, the wider ones). */
static int batch_slices(int mode, int T, int B, int I, int H, int P, int training, size_t elem)
{
    if (!batch_split_allowed(mode, T, B, I, H, P, training, elem)) return 0;
    return sized_batch_slices(mode, T, B, I, H, P, training, 0);
}

/* batch_slices for the bf16 forward, on the bf16 path in effect (read after the first call's
 * init_once, which decides it). */
static int batch_slices_bf16(int mode, int T, int B, int I, int H, int P)
{
    if (!batch_split_allowed_bf16(mode, T, B, H, P) ||
        __atomic_load_n(&g_bf16_path, __ATOMIC_RELAXED) != BF16_DOT_EVERY_PRODUCT)
        return 0;
    return sized_batch_slices(mode, T, B, I, H, P, 0, 1);
}

/* Sizes BLAS receives as int (T*B rows, G*H columns) must fit in one. */
static int sizes_overflow(int mode, int T, int B, int I, int H)
{
    const size_t G = (size_t)gates_of(mode);
    return (size_t)T * B > INT_MAX || G * H > INT_MAX || (size_t)I > INT_MAX;
}

static int check_lengths(const int64_t *lengths, int T, int B)
{
    if (!lengths) return 0;
    for (int b = 0; b < B; b++)
        if (lengths[b] < 1 || lengths[b] > T) return 1;
    return 0;
}

static int check_forward_args(int mode, int T, int B, int I, int H, int P, const void *x, const void *w_ih,
                              const void *w_hh, const void *w_hr, const void *ln, const int64_t *lengths,
                              const void *h, const void *c, const void *y, const void *work)
{
    if (!valid_sizes(mode, T, B, H, P) || I < 1 || sizes_overflow(mode, T, B, I, H)) return 1;
    if (!x || !w_ih || !w_hh || !h || !y || !work || (has_cell_state(mode) && !c)) return 1;
    if ((mode == PYRNN_LSTM_PROJ) != (w_hr != NULL)) return 1;   /* W_hr exactly for LSTM_PROJ */
    if ((mode == PYRNN_LAYERNORM_LSTM) != (ln != NULL)) return 1;   /* ln exactly for LAYERNORM_LSTM */
    return check_lengths(lengths, T, B);
}

static int check_backward_args(int mode, int T, int B, int I, int H, int P, const void *x, const void *w_ih,
                               const void *w_hh, const void *w_hr, const void *ln, const int64_t *lengths,
                               const void *work, const void *dy, const void *dh, const void *dc,
                               const void *dw_ih, const void *dw_hh, const void *db_ih,
                               const void *db_hh, const void *dw_hr, const void *dln, const void *bwork)
{
    /* dw_ih NULL: no weight gradients at all (frozen weights), so every other one NULL too */
    const int weight_grads = dw_ih != NULL;
    if (!weight_grads && (dw_hh || db_ih || db_hh || dw_hr || dln)) return 1;
    if ((mode == PYRNN_LAYERNORM_LSTM) != (ln != NULL) || (weight_grads && (ln != NULL) != (dln != NULL))) return 1;
    if (!valid_sizes(mode, T, B, H, P) || I < 1 || sizes_overflow(mode, T, B, I, H)) return 1;
    if (!x || !w_ih || !w_hh || !work || !dy || !dh || (weight_grads && !dw_hh) || !bwork) return 1;   /* (dx: NULL or not) */
    if (has_cell_state(mode) && !dc) return 1;
    if ((mode == PYRNN_LSTM_PROJ) != (w_hr != NULL) || (weight_grads && (w_hr != NULL) != (dw_hr != NULL))) return 1;
    if (independent(mode) ? db_hh != NULL : !db_ih != !db_hh) return 1;   /* both biases or neither; IndRNN: no b_hh */
    return check_lengths(lengths, T, B);
}

/* The barrier between the phases of a time step. libgomp's (GOMP_barrier) makes a futex_wake
 * system call at every barrier, whether or not a thread sleeps there (strace: one per step, with
 * one thread or two), on the critical path of every step. This one spins while the others arrive
 * (within microseconds: every thread has the same share of the step) and enters the kernel only
 * when a thread waited longer than g_barrier_spins rounds (more threads than free cores, or
 * OMP_WAIT_POLICY=passive, which sets no spinning at all): that thread then sleeps on a futex
 * (Linux; elsewhere it yields the core), and the last to arrive wakes the sleepers it counts.
 * A generation counter: the last thread to arrive resets the count and starts the next generation,
 * the others wait for it, so the writes before the barrier are seen after it. The sleepers count and
 * the generation are sequentially consistent: a sleeper either is counted by the last thread or
 * sees the new generation before it sleeps (and FUTEX_WAIT itself rechecks the value). */
typedef struct {
    unsigned arrived;      /* threads at the barrier in this generation */
    unsigned generation;
    unsigned sleepers;     /* threads asleep (or about to be) on generation */
} step_barrier;

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void barrier_sleep(step_barrier *bar, unsigned generation)
{
#ifdef __linux__
    syscall(SYS_futex, &bar->generation, FUTEX_WAIT_PRIVATE, generation, NULL, NULL, 0);
#else
    (void)bar, (void)generation;
    sched_yield();
#endif
}

static void barrier_wake(step_barrier *bar)
{
#ifdef __linux__
    syscall(SYS_futex, &bar->generation, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
#else
    (void)bar;
#endif
}

/* Every one of the team's nt threads calls this at the same point of each step. */
static void step_barrier_wait(step_barrier *bar, int nt)
{
    if (nt <= 1) return;
    const unsigned generation = __atomic_load_n(&bar->generation, __ATOMIC_ACQUIRE);
    if (__atomic_add_fetch(&bar->arrived, 1, __ATOMIC_ACQ_REL) == (unsigned)nt) {
        __atomic_store_n(&bar->arrived, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&bar->generation, generation + 1, __ATOMIC_SEQ_CST);
        if (__atomic_load_n(&bar->sleepers, __ATOMIC_SEQ_CST)) barrier_wake(bar);
        return;
    }
    for (long spins = 0; spins < g_barrier_spins; spins++) {
        if (__atomic_load_n(&bar->generation, __ATOMIC_ACQUIRE) != generation) return;
        cpu_relax();
    }
    __atomic_add_fetch(&bar->sleepers, 1, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(&bar->generation, __ATOMIC_SEQ_CST) == generation) barrier_sleep(bar, generation);
    __atomic_sub_fetch(&bar->sleepers, 1, __ATOMIC_SEQ_CST);
}

/* ------------------------------------------------------------ float */
/* Per build of the generic code: REAL the arithmetic, WT the type of x and the weight matrices,
 * YT that of y, TO_REAL widening a WT, PYRNN_BF16 the bf16 inference build, LAYOUT its work,
 * PACK_AS_BITS whether a weight goes into the packed blocks as its 32 bits (float as it is). */
#define WT REAL
#define YT REAL
#define TO_REAL(v) (v)
#define PYRNN_BF16 0
#define LAYOUT(mode, T, B, I, H, P, training) layout_of(mode, T, B, I, H, P, training)
#define REAL float
#define REAL_IS_DOUBLE 0
#define PACK_AS_BITS 1
#define FN(name) name##_f32
#define R(x) ((float)(x))
#define FABS fabsf
#define COPYSIGN copysignf
#define GEMM PYRNN_CBLAS(sgemm)
#define GEMV PYRNN_CBLAS(sgemv)
#include "pyrnn_gates.h"
#include "pyrnn_generic.inc"
#undef REAL
#undef REAL_IS_DOUBLE
#undef PACK_AS_BITS
#undef FN
#undef R
#undef FABS
#undef COPYSIGN

/* ------------------------------------------------------------ double */
#define REAL double
#define REAL_IS_DOUBLE 1
#define PACK_AS_BITS 0
#define FN(name) name##_f64
#define R(x) ((double)(x))
#define FABS fabs
#define COPYSIGN copysign
#define GEMM PYRNN_CBLAS(dgemm)
#define GEMV PYRNN_CBLAS(dgemv)
#include "pyrnn_gates.h"
#include "pyrnn_generic.inc"
#undef REAL
#undef REAL_IS_DOUBLE
#undef PACK_AS_BITS
#undef FN
#undef R
#undef FABS
#undef COPYSIGN
#undef WT
#undef YT
#undef TO_REAL
#undef PYRNN_BF16
#undef LAYOUT

/* ------------------------------------------------------------ bfloat16 (forward, inference) */
/* float arithmetic, bf16 x, weights, y and h (pyrnn_bf16.h); no backward */
#define REAL float
#define REAL_IS_DOUBLE 0
#define PACK_AS_BITS 0
#define WT bf16_t
#define YT bf16_t
#define TO_REAL(v) bf16_to_f32(v)
#define PYRNN_BF16 1
#define LAYOUT(mode, T, B, I, H, P, training) layout_bf16(mode, T, B, I, H, P)
#define FN(name) name##_bf16
#define R(x) ((float)(x))
#define FABS fabsf
#define COPYSIGN copysignf
#define GEMM PYRNN_CBLAS(sgemm)
#define GEMV PYRNN_CBLAS(sgemv)
#include "pyrnn_gates.h"
#include "pyrnn_generic.inc"
