"""PackedSequence <-> a padded (T, B, F) batch in the packed (sorted) batch order, differentiably.

A PackedSequence stores, time step after time step, the rows of the
sequences still running at that step (batch_sizes[t] of them, longest
sequences first). pyrnn's kernels take a padded batch plus lengths instead,
so a packed input becomes padded rows + lengths, and the padded output goes
back to the same packed layout (same batch_sizes and index permutations, as
torch.nn returns it). Both directions are index_copy / index_select: torch
autograd carries the gradients through them.
"""
import numpy as np
import torch


def packed_rows(batch_sizes):
    """Flat (t * B + b) index of every packed row, and the sorted lengths (B,) int64."""
    sizes = batch_sizes.cpu().numpy().astype(np.int64)
    B = int(sizes[0])
    t_of_row = np.repeat(np.arange(len(sizes)), sizes)
    b_of_row = np.concatenate([np.arange(n) for n in sizes])
    lengths = (sizes[None, :] > np.arange(B)[:, None]).sum(axis=1).astype(np.int64)
    return torch.from_numpy(t_of_row * B + b_of_row), lengths


def pad(data, rows, T, B):
    """data (N, F) packed -> (T, B, F) with zeros in the padding."""
    padded = data.new_zeros((T * B, data.shape[1]))
    return padded.index_copy(0, rows, data).view(T, B, data.shape[1])


def repack(padded, rows):
    """(T, B, F) -> (N, F) packed rows."""
    T, B, F = padded.shape
    return padded.reshape(T * B, F).index_select(0, rows)
