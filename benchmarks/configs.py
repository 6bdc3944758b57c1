"""Benchmark configurations and FLOP counts shared by the suites and scripts."""

CONFIGS = {
    # name: (T, B, I, H) -- "large" is PyTorch's own fastrnns default
    "large": (100, 64, 512, 512),
    "medium": (100, 32, 256, 256),
    "small": (50, 1, 128, 128),
}
GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}


def gemm_flops(mode, T, B, I, H, backward):
    """Multiply-add FLOPs of the GEMMs of one layer (the pointwise work is not counted).

    Forward: input projection 2*T*B*I*G*H + recurrent 2*T*B*H*G*H. Backward does
    twice that (data gradients dx, dh and weight gradients dW_ih, dW_hh).
    """
    forward = 2 * T * B * GATES[mode] * H * (I + H)
    return 3 * forward if backward else forward
