/*
 * pyrnn C kernels: the C API and the layout rules, stated once.
 *
 * The same rules every pyrnn backend follows (pyrnn/backends/base.py):
 *
 *   Letters: T time, B batch, I input, H hidden, G gates
 *            (G = 1 for RNN and IndRNN, 4 for LSTM, 3 for GRU), P the width of
 *            h and y: H for every cell but LSTM_PROJ, whose h_t = W_hr (o * tanh(c_t))
 *            (torch.nn's proj_size; P must equal H for the other cells).
 *   Arrays:  C-contiguous, row-major, last index fastest, one dtype per call
 *            (float: the _f32 functions, double: the _f64 functions).
 *     x      [T][B][I]        y     [T][B][P]       dy [T][B][P]
 *     h      [B][P]           c     [B][H]          (in: h0/c0, out: h_n/c_n; c for the LSTMs only)
 *     w_ih   [G*H][I]         w_hh  [G*H][P]       b_ih, b_hh [G*H] (or NULL)
 *     w_hr   [P][H]           (LSTM_PROJ only; NULL for the other cells, and so is dw_hr)
 *     ln     [18H]            LAYERNORM_LSTM only (NULL otherwise, and so is dln): the layer norms'
 *                             gains and shifts one after another, ln_ih_w, ln_ih_b, ln_hh_w,
 *                             ln_hh_b [4H] each, ln_c_w, ln_c_b [H] each; with LN(v) =
 *                             (v - mean(v)) / sqrt(var(v) + 1e-5) * w + b over a row,
 *                             a = LN(x W_ih^T; ln_ih) + LN(h W_hh^T; ln_hh) + b_ih + b_hh,
 *                             c' = f c + i g, h' = o tanh(LN(c'; ln_c))
 *   Gate blocks in PyTorch order: LSTM i, f, g, o; GRU r, z, n with
 *     n = tanh(W_in x + b_in + r * (W_hn h + b_hn)),  h' = (1 - z) * n + z * h.
 *   IndRNN (h' = f(W_ih x + b_ih + u * h), f = tanh or relu): w_hh is the
 *     elementwise recurrent weight u [H] and there is no b_hh (pass NULL; in
 *     backward dw_hh is [H] and db_hh must be NULL).
 *   One call runs one layer in one direction over the whole sequence;
 *   reverse != 0 walks t = T-1 .. 0. lengths [B] (or NULL = all T), each in
 *   [1, T]: steps t >= lengths[b] hold the state and write y = 0, so the
 *   reverse direction starts at each sequence's own last step.
 *
 * Memory: the caller owns every buffer; the kernels allocate nothing.
 *   work  pyrnn_work_size(mode, T, B, I, H, P, training) elements, for the call's own
 *         training flag (neither size covers the other: an inference forward may pack
 *         W_ih into it, a training forward keeps its activations there). With
 *         training != 0, forward leaves in it what backward needs (gate
 *         activations, states entering each step); backward reads it and
 *         overwrites it with the gate gradients, so one forward's work
 *         serves exactly one backward.
 *   bwork pyrnn_backward_work_size(mode, T, B, H, P) elements of scratch.
 *   Backward writes (does not accumulate) dx, dw_ih, dw_hh, db_ih, db_hh, dw_hr;
 *   db_ih/db_hh may be NULL (a layer without biases), dx may be NULL (an input
 *   that needs no gradient: its GEMM, a quarter of a backward's products at
 *   I = H and a sixth of forward + backward, is then left out), and dw_ih NULL
 *   with every other weight gradient NULL too (dw_hh, db_ih, db_hh, dw_hr, dln:
 *   frozen weights) leaves out the weight gradients' GEMMs, half of a backward's
 *   products. dh (and dc) enter as
 *   the gradients w.r.t. h_n (c_n) and leave as those w.r.t. h0 (c0).
 *
 * Threads: OpenMP. One parallel region per call; each thread owns a slice of
 * the hidden units for the whole sequence. From 8 steps on, it packs its part
 * of W_hh once into register-tile blocks that stay in its cache and computes
 * its part of each step's product with them (shorter sequences: single-threaded
 * BLAS per thread); it applies the fused gate code to its units and meets the
 * others at one barrier per step (LSTM_PROJ: two, the projection's P units
 * being split over the threads as well). The plain cells (RNN, LSTM, GRU) with 16
 * rows or more and weights per step that fit a core's L2 split the batch instead:
 * each thread runs the whole time loop for its own rows, with no barrier per step
 * (pyrnn.c, batch_slices; a training work buffer's header tells the backward).
 * The large GEMMs (input projection, dx,
 * weight gradients) are single-threaded BLAS calls split over the same
 * threads. pyrnn_set_num_threads(n) caps the threads (n <= 0: OpenMP's
 * default); small problems use fewer on their own. Like every libgomp user,
 * the kernels are not fork-safe: a child process forked after the parent used
 * them must not call them.
 *
 * Sizes: T*B and G*H must fit in an int (the BLAS interface), else EINVAL.
 *
 * Return value: 0 on success, PYRNN_EINVAL when an argument is invalid
 * (unknown mode, a size < 1 or too large, a required pointer NULL, a length out
 * of range).
 */
#ifndef PYRNN_H
#define PYRNN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PYRNN_GATES_RNN 1
#define PYRNN_GATES_LSTM 4
#define PYRNN_GATES_GRU 3

/* cffi-begin: everything up to cffi-end is also the cffi declaration (csrc/build_ffi.py) */
enum { PYRNN_RNN_TANH = 0, PYRNN_RNN_RELU = 1, PYRNN_LSTM = 2, PYRNN_GRU = 3, PYRNN_INDRNN_TANH = 4,
       PYRNN_INDRNN_RELU = 5, PYRNN_LSTM_PROJ = 6, PYRNN_LAYERNORM_LSTM = 7 };
enum { PYRNN_OK = 0, PYRNN_EINVAL = -1 };

size_t pyrnn_work_size(int mode, int T, int B, int I, int H, int P, int training);
size_t pyrnn_backward_work_size(int mode, int T, int B, int H, int P);
void pyrnn_set_num_threads(int n);
int pyrnn_get_num_threads(void);
const char *pyrnn_build_info(void);
/* The kernel set the BLAS runs on this CPU (OpenBLAS's core name, e.g. "SkylakeX"), or "" when the BLAS
 * does not say. */
const char *pyrnn_blas_kernels(void);

int pyrnn_forward_f32(int mode, int T, int B, int I, int H, int P, const float *x,
                      const float *w_ih, const float *w_hh, const float *b_ih, const float *b_hh,
                      const float *w_hr, const float *ln, const int64_t *lengths, int reverse, int training,
                      float *h, float *c, float *y, float *work);
int pyrnn_forward_f64(int mode, int T, int B, int I, int H, int P, const double *x,
                      const double *w_ih, const double *w_hh, const double *b_ih, const double *b_hh,
                      const double *w_hr, const double *ln, const int64_t *lengths, int reverse, int training,
                      double *h, double *c, double *y, double *work);

int pyrnn_backward_f32(int mode, int T, int B, int I, int H, int P, const float *x,
                       const float *w_ih, const float *w_hh, const float *w_hr, const float *ln,
                       const int64_t *lengths, int reverse, float *work, const float *dy,
                       float *dh, float *dc, float *dx, float *dw_ih, float *dw_hh,
                       float *db_ih, float *db_hh, float *dw_hr, float *dln, float *bwork);
int pyrnn_backward_f64(int mode, int T, int B, int I, int H, int P, const double *x,
                       const double *w_ih, const double *w_hh, const double *w_hr, const double *ln,
                       const int64_t *lengths, int reverse, double *work, const double *dy,
                       double *dh, double *dc, double *dx, double *dw_ih, double *dw_hh,
                       double *db_ih, double *db_hh, double *dw_hr, double *dln, double *bwork);

/* bfloat16 inference: x, w_ih, w_hh, b_ih, b_hh, w_hr and y hold bf16 (uint16_t, the upper half of a
 * float); ln, h, c and work are float. Products of bf16 by bf16 are summed in float, the gate
 * math and c stay float, and h is rounded to bf16 after every step (it is what the next product
 * multiplies; h0 is rounded too). training must be 0 (no backward); work holds
 * pyrnn_work_size_bf16(...) floats. pyrnn_bf16_path() names the path in effect: avx512-bf16 where
 * the CPU has the tiles (AMX-BF16 for the products of 3 rows or more), or the instructions
 * (avx512-bf16: VDPBF16PS for the step products at small batch, or for every product where it
 * retires fast enough: pyrnn.c), else portable (the same products, summed in another order).
 * pyrnn_set_bf16_path(path): 0 the best for this CPU, 1 portable, 2 VDPBF16PS at small batch,
 * 3 VDPBF16PS for every product (2 and 3 only where the CPU has AVX512-BF16), 4 AMX (only where
 * the CPU and the OS give AMX-BF16; any other value: the best); returns the path in effect:
 * 0 portable, 1 small batch, 2 every product, 3 amx.
 * $PYRNN_C_BF16_PATH=portable|small-batch|every-product|amx chooses from the start.
 * pyrnn_peak_gflops(unit): one core's multiply-add rate (GFLOP/s, 2 per multiply-add) of a unit:
 * 0 float FMAs (512-bit), 1 VDPBF16PS, 2 AMX TDPBF16PS; 0.0 where the CPU lacks it (0 and 1 are
 * measured by the avx512-bf16 code, so only where the CPU has AVX512-BF16); best of 3 runs
 * of a few ms, measured at each call (the ceiling of benchmarks' fractions of peak). */
size_t pyrnn_work_size_bf16(int mode, int T, int B, int I, int H, int P);
int pyrnn_forward_bf16(int mode, int T, int B, int I, int H, int P, const uint16_t *x,
                       const uint16_t *w_ih, const uint16_t *w_hh, const uint16_t *b_ih, const uint16_t *b_hh,
                       const uint16_t *w_hr, const float *ln, const int64_t *lengths, int reverse, int training,
                       float *h, float *c, uint16_t *y, float *work);
const char *pyrnn_bf16_path(void);
int pyrnn_set_bf16_path(int path);
double pyrnn_peak_gflops(int unit);
/* cffi-end */

#ifdef __cplusplus
}
#endif

#endif /* PYRNN_H */
