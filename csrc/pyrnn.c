/*
 * pyrnn C kernels: argument checks, threading policy, and the public entry
 * points of pyrnn.h. The math lives in pyrnn_gates.h (pointwise, per cell)
 * and pyrnn_generic.inc (time loops); both are compiled once for float and
 * once for double below.
 */
#include "pyrnn.h"

#include <limits.h>
#include <math.h>
#include <pthread.h>
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
static pthread_once_t g_init_once = PTHREAD_ONCE_INIT;

static void init_once(void)
{
    pyrnn_blas_single_thread();
    const char *env = getenv("PYRNN_C_MIN_WORK");
    long v = env ? strtol(env, NULL, 10) : 0;
    g_min_work = v > 0 ? v : DEFAULT_MIN_WORK;
    const char *step = getenv("PYRNN_C_STEP_GEMM");
    g_step_blas = step && strcmp(step, "blas") == 0;
}

void pyrnn_set_num_threads(int n) { g_thread_cap = n > 0 ? n : 0; }

int pyrnn_get_num_threads(void)
{
    int max = omp_get_max_threads();
    return g_thread_cap > 0 && g_thread_cap < max ? g_thread_cap : max;
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

static int gates_of(int mode) { return mode == PYRNN_LSTM ? 4 : mode == PYRNN_GRU ? 3 : 1; }

/* [T][B][H] arrays kept for backward besides the gates: h_prev (+ c_prev, tanh_c | hn). */
static int saved_states(int mode) { return mode == PYRNN_LSTM ? 3 : mode == PYRNN_GRU ? 2 : 1; }

static int valid_mode(int mode) { return mode >= PYRNN_RNN_TANH && mode <= PYRNN_INDRNN_RELU; }

/* The recurrence is elementwise (IndRNN: u * h): no W_hh product, and no thread
 * reads another's units, so the time loop needs no barrier per step. */
static int independent(int mode) { return mode == PYRNN_INDRNN_TANH || mode == PYRNN_INDRNN_RELU; }

static int relu_of(int mode) { return mode == PYRNN_RNN_RELU || mode == PYRNN_INDRNN_RELU; }

/* Offsets (in elements) of the sections of a forward work buffer, and its size:
 * the one description of that layout, for pyrnn_work_size, forward and backward
 * (which reuses the "a" and "packed" sections as scratch). See pyrnn_generic.inc. */
typedef struct {
    size_t pre, saved, a, hbuf, biases, packed, total;
} work_layout;

static work_layout layout_of(int mode, int T, int B, int H, int training)
{
    const size_t G = (size_t)gates_of(mode), TB = (size_t)T * B;
    work_layout L;
    L.pre = 0;
    L.saved = L.pre + TB * G * H;
    L.a = L.saved + (training ? (size_t)saved_states(mode) * TB * H : 0);
    L.hbuf = L.a + (size_t)B * G * H;
    L.biases = L.hbuf + 2 * (size_t)B * H;
    L.packed = L.biases + 2 * G * H;
    L.total = L.packed + (T >= PACK_MIN_STEPS && !independent(mode) ? G * H * (size_t)H : 0);
    return L;
}

/* Whether the per-step products use the packed W_hh blocks (else BLAS). */
static int steps_use_packed(int T, int B)
{
    return T >= PACK_MIN_STEPS && (B == 1 || !g_step_blas);
}

size_t pyrnn_work_size(int mode, int T, int B, int H, int training)
{
    if (!valid_mode(mode) || T < 1 || B < 1 || H < 1) return 0;
    return layout_of(mode, T, B, H, training).total;
}

size_t pyrnn_backward_work_size(int mode, int T, int B, int H)
{
    if (!valid_mode(mode) || T < 1 || B < 1 || H < 1) return 0;
    const size_t TB = (size_t)T * B;
    return TB + (mode == PYRNN_GRU ? TB * 3 * H : 0);
}

/* [lo, hi) of n items for part `part` of `parts`; chunks rounded up to `align` when larger. */
static void split(size_t n, int parts, int part, int align, int *lo, int *hi)
{
    size_t chunk = (n + parts - 1) / parts;
    if (align > 1 && chunk > (size_t)align) chunk = (chunk + align - 1) / align * align;
    size_t l = chunk * part, h = l + chunk;
    *lo = (int)(l < n ? l : n);
    *hi = (int)(h < n ? h : n);
}

static int threads_for(int mode, int T, int B, int I, int GH, int H)
{
    pthread_once(&g_init_once, init_once);
    /* Per step: B * G*H * H multiply-adds and a barrier; an elementwise recurrence has
     * neither, so there the input projection (T*B * H * I) decides. */
    const double work = independent(mode) ? (double)T * B * H * I / 8.0 : (double)B * GH * H;
    int n = pyrnn_get_num_threads();
    const int by_work = (int)(work / (double)g_min_work);
    if (by_work < n) n = by_work;
    const int by_units = (H + UNIT_ALIGN - 1) / UNIT_ALIGN;   /* threads beyond this would get no units */
    if (by_units < n) n = by_units;
    return n < 1 ? 1 : n;
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

static int check_forward_args(int mode, int T, int B, int I, int H, const void *x, const void *w_ih,
                              const void *w_hh, const int64_t *lengths, const void *h, const void *c,
                              const void *y, const void *work)
{
    if (!valid_mode(mode) || T < 1 || B < 1 || I < 1 || H < 1 || sizes_overflow(mode, T, B, I, H)) return 1;
    if (!x || !w_ih || !w_hh || !h || !y || !work || (mode == PYRNN_LSTM && !c)) return 1;
    return check_lengths(lengths, T, B);
}

static int check_backward_args(int mode, int T, int B, int I, int H, const void *x, const void *w_ih,
                               const void *w_hh, const int64_t *lengths, const void *work,
                               const void *dy, const void *dh, const void *dc, const void *dx,
                               const void *dw_ih, const void *dw_hh, const void *db_ih,
                               const void *db_hh, const void *bwork)
{
    if (!valid_mode(mode) || T < 1 || B < 1 || I < 1 || H < 1 || sizes_overflow(mode, T, B, I, H)) return 1;
    if (!x || !w_ih || !w_hh || !work || !dy || !dh || !dx || !dw_ih || !dw_hh || !bwork) return 1;
    if (mode == PYRNN_LSTM && !dc) return 1;
    if (independent(mode) ? db_hh != NULL : !db_ih != !db_hh) return 1;   /* both biases or neither; IndRNN: no b_hh */
    return check_lengths(lengths, T, B);
}

/* ------------------------------------------------------------ float */
#define REAL float
#define REAL_IS_DOUBLE 0
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
#undef FN
#undef R
#undef FABS
#undef COPYSIGN

/* ------------------------------------------------------------ double */
#define REAL double
#define REAL_IS_DOUBLE 1
#define FN(name) name##_f64
#define R(x) ((double)(x))
#define FABS fabs
#define COPYSIGN copysign
#define GEMM PYRNN_CBLAS(dgemm)
#define GEMV PYRNN_CBLAS(dgemv)
#include "pyrnn_gates.h"
#include "pyrnn_generic.inc"
