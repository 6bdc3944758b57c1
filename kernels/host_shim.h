/*
 * Host shim: compile the one-thread-per-element CUDA kernels of kernels/ with a
 * plain C++17 compiler (g++), so that their bodies run (and are tested) on a
 * machine without a GPU (backend "cuda_host", tests/backends/test_cuda_kernels.py).
 *
 * A __global__ function becomes an ordinary function; threadIdx, blockIdx,
 * blockDim and gridDim become thread-local globals that pyrnn_shim_run (see
 * host_shim.cpp) sets before calling the kernel once per simulated thread, so
 * every simulated thread runs its own grid-stride loop exactly as on a device.
 * Only what these kernels use is provided: no shared memory, no __syncthreads,
 * no atomics (a kernel needing them cannot be simulated this way).
 */
#ifndef PYRNN_HOST_SHIM_H
#define PYRNN_HOST_SHIM_H

#ifdef __CUDACC__
#error "host_shim.h is for host compilers only"
#endif

#include <math.h>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline

struct dim3 {
    unsigned int x = 1, y = 1, z = 1;
};

/* Set by the runner before each simulated thread's call. */
static thread_local dim3 threadIdx, blockIdx, blockDim, gridDim;

#endif /* PYRNN_HOST_SHIM_H */
