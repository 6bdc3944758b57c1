/*
 * The kernels of the kernels/ .cu files built for the host (see host_shim.h), behind one
 * C entry point:
 *
 *   void *pyrnn_shim_kernel(const char *name)
 *       the runner of the kernel called `name` (e.g. "lstm_forward_step_f32"),
 *       NULL if there is none. A runner has the kernel's parameters preceded by
 *       (int grid, int block): it calls the kernel once per simulated thread,
 *       blocks 0..grid-1 x threads 0..block-1, one after the other.
 *
 * Built at first use by pyrnn/backends/cuda/host.py (g++ -O2 -std=c++17 -shared).
 */
#include "host_shim.h"

#include <string.h>

/* The kernel files and PYRNN_SHIM_KERNELS(X), X(name) for each of their kernels: written by
 * pyrnn/backends/cuda/host.py from the cell descriptions (pyrnn/cell_specs.py) into the build's own
 * folder, so a new cell's kernels are in the shim without an edit here. */
#include <shim_manifest.inc> /* <>: only the -I folders, never a stray copy in kernels/ */

namespace {

template <typename... Args>
struct Runner {
    template <void (*Kernel)(Args...)>
    static void run(int grid, int block, Args... args)
    {
        gridDim = dim3{};
        blockDim = dim3{};
        gridDim.x = (unsigned int)grid;
        blockDim.x = (unsigned int)block;
        for (int bx = 0; bx < grid; bx++) {
            for (int tx = 0; tx < block; tx++) {
                blockIdx = dim3{};
                threadIdx = dim3{};
                blockIdx.x = (unsigned int)bx;
                threadIdx.x = (unsigned int)tx;
                Kernel(args...);
            }
        }
    }
};

template <typename... Args>
Runner<Args...> runner_for(void (*)(Args...));

struct Entry {
    const char *name;
    void *runner;
};

#define PYRNN_SHIM_ENTRY(kernel) {#kernel, (void *)&decltype(runner_for(kernel))::template run<kernel>},

const Entry entries[] = {PYRNN_SHIM_KERNELS(PYRNN_SHIM_ENTRY)};

}  // namespace

extern "C" void *pyrnn_shim_kernel(const char *name)
{
    for (const Entry &e : entries)
        if (strcmp(e.name, name) == 0) return e.runner;
    return nullptr;
}
