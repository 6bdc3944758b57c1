/*
 * Which CBLAS the kernels call. Default build (setup.py, CMake): the
 * scipy-openblas32 wheel, the OpenBLAS that NumPy and SciPy themselves are
 * built against; its symbols carry a "scipy_" prefix so that it can live in
 * one process beside NumPy's and SciPy's own copies. Any other CBLAS works
 * with the plain names (build without PYRNN_BLAS_SCIPY_OPENBLAS).
 *
 * The kernels call BLAS from inside their own OpenMP threads, one GEMM slice
 * per thread, so BLAS must not start threads of its own:
 * pyrnn_blas_single_thread() is called once before the first kernel.
 */
#ifndef PYRNN_BLAS_H
#define PYRNN_BLAS_H

#include <cblas.h>

/* OpenBLAS's cblas.h pulls in <complex.h>, whose macro I (the imaginary unit)
 * would clash with the input size I of the kernels. */
#undef I

#ifdef PYRNN_BLAS_SCIPY_OPENBLAS
#define PYRNN_CBLAS(name) scipy_cblas_##name
#define PYRNN_BLAS_NAME "scipy-openblas32 (OpenBLAS)"
static void pyrnn_blas_single_thread(void) { scipy_openblas_set_num_threads(1); }
static const char *pyrnn_blas_core(void) { return scipy_openblas_get_corename(); }
#elif defined(PYRNN_BLAS_OPENBLAS)
#define PYRNN_CBLAS(name) cblas_##name
#define PYRNN_BLAS_NAME "OpenBLAS"
static void pyrnn_blas_single_thread(void) { openblas_set_num_threads(1); }
static const char *pyrnn_blas_core(void) { return openblas_get_corename(); }
#else
#define PYRNN_CBLAS(name) cblas_##name
#define PYRNN_BLAS_NAME "CBLAS (threads as configured by the BLAS; set e.g. OMP_NUM_THREADS=1 for it)"
static void pyrnn_blas_single_thread(void) {}
static const char *pyrnn_blas_core(void) { return ""; }
#endif

#endif /* PYRNN_BLAS_H */
