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
 * Built at first use by pyrnn/backends/cuda_host.py (g++ -O2 -std=c++17 -shared).
 */
#include "host_shim.h"

#include <string.h>

#include "lstm_forward.cu"
#include "lstm_backward.cu"
#include "gru_forward.cu"
#include "gru_backward.cu"
#include "rnn_forward.cu"
#include "rnn_backward.cu"
#include "indrnn_forward.cu"
#include "indrnn_backward.cu"
#include "lstmp_forward.cu"
#include "lstmp_backward.cu"
#include "lnlstm_forward.cu"
#include "lnlstm_backward.cu"

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

#define PYRNN_SHIM_ENTRY(kernel) {#kernel, (void *)&decltype(runner_for(kernel))::template run<kernel>}

const Entry entries[] = {
    PYRNN_SHIM_ENTRY(lstm_forward_step_f32), PYRNN_SHIM_ENTRY(lstm_forward_step_f64),
    PYRNN_SHIM_ENTRY(lstm_backward_step_f32), PYRNN_SHIM_ENTRY(lstm_backward_step_f64),
    PYRNN_SHIM_ENTRY(gru_forward_step_f32), PYRNN_SHIM_ENTRY(gru_forward_step_f64),
    PYRNN_SHIM_ENTRY(gru_backward_step_f32), PYRNN_SHIM_ENTRY(gru_backward_step_f64),
    PYRNN_SHIM_ENTRY(rnn_forward_step_f32), PYRNN_SHIM_ENTRY(rnn_forward_step_f64),
    PYRNN_SHIM_ENTRY(rnn_backward_step_f32), PYRNN_SHIM_ENTRY(rnn_backward_step_f64),
    PYRNN_SHIM_ENTRY(indrnn_forward_step_f32), PYRNN_SHIM_ENTRY(indrnn_forward_step_f64),
    PYRNN_SHIM_ENTRY(indrnn_backward_step_f32), PYRNN_SHIM_ENTRY(indrnn_backward_step_f64),
    PYRNN_SHIM_ENTRY(lstmp_forward_step_f32), PYRNN_SHIM_ENTRY(lstmp_forward_step_f64),
    PYRNN_SHIM_ENTRY(lstmp_project_step_f32), PYRNN_SHIM_ENTRY(lstmp_project_step_f64),
    PYRNN_SHIM_ENTRY(lstmp_project_backward_step_f32), PYRNN_SHIM_ENTRY(lstmp_project_backward_step_f64),
    PYRNN_SHIM_ENTRY(lnlstm_input_norm_f32), PYRNN_SHIM_ENTRY(lnlstm_input_norm_f64),
    PYRNN_SHIM_ENTRY(lnlstm_row_stats_f32), PYRNN_SHIM_ENTRY(lnlstm_row_stats_f64),
    PYRNN_SHIM_ENTRY(lnlstm_forward_gates_f32), PYRNN_SHIM_ENTRY(lnlstm_forward_gates_f64),
    PYRNN_SHIM_ENTRY(lnlstm_forward_out_f32), PYRNN_SHIM_ENTRY(lnlstm_forward_out_f64),
    PYRNN_SHIM_ENTRY(lnlstm_backward_out_f32), PYRNN_SHIM_ENTRY(lnlstm_backward_out_f64),
    PYRNN_SHIM_ENTRY(lnlstm_backward_means_f32), PYRNN_SHIM_ENTRY(lnlstm_backward_means_f64),
    PYRNN_SHIM_ENTRY(lnlstm_backward_gates_f32), PYRNN_SHIM_ENTRY(lnlstm_backward_gates_f64),
    PYRNN_SHIM_ENTRY(lnlstm_backward_hidden_f32), PYRNN_SHIM_ENTRY(lnlstm_backward_hidden_f64),
    PYRNN_SHIM_ENTRY(lnlstm_input_norm_backward_f32), PYRNN_SHIM_ENTRY(lnlstm_input_norm_backward_f64),
};

}  // namespace

extern "C" void *pyrnn_shim_kernel(const char *name)
{
    for (const Entry &e : entries)
        if (strcmp(e.name, name) == 0) return e.runner;
    return nullptr;
}
