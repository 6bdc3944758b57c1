"""Reusable scratch and saved-activation buffers for a backend.

A fresh NumPy array of tens of MB is fresh memory from the OS, and its
first touch costs a page fault per 4 KB page: for the LSTM at T=100 B=32
H=256 the forward in train mode spent 9 of its 30 ms faulting in buffers
that the previous call had just released. Buffers that never reach the
user (saved activations, gate gradients, the input projection) are
therefore taken from and given back to this pool.
"""
import numpy as np

# Bytes: a cache line. The C kernels' work buffers start on one, so that their sections (each on
# a multiple of 64 bytes from the start, csrc/pyrnn.c) do too; NumPy's large arrays start 16
# bytes into a page.
ALIGN = 64


class BufferPool:
    """Arrays by (shape, dtype); ``take`` reuses a given-back one when it can."""

    def __init__(self, per_key=4):
        self._free = {}           # (shape, dtype) -> arrays given back
        self._free_aligned = {}   # (n, dtype) -> take_aligned's arrays given back
        self._per_key = per_key

    def take(self, shape, dtype):
        """An uninitialised C-contiguous array (like np.empty)."""
        free = self._free.get((tuple(shape), np.dtype(dtype)))
        if free:
            try:
                return free.pop()
            except IndexError:        # emptied by another thread meanwhile
                pass
        return np.empty(shape, dtype=dtype)

    def take_aligned(self, n, dtype):
        """An uninitialised 1-D array of n elements whose data starts on an ALIGN-byte boundary.

        Give it back with :meth:`give_aligned`: that list holds only arrays made here, so a
        reused one needs no alignment check (reading an array's address costs ~1 us, a tenth of
        a small layer's C call).
        """
        dtype = np.dtype(dtype)
        free = self._free_aligned.get((n, dtype))
        if free:
            try:
                return free.pop()
            except IndexError:        # emptied by another thread meanwhile
                pass
        spare = np.empty(n + ALIGN // dtype.itemsize, dtype=dtype)
        start = (-spare.ctypes.data % ALIGN) // dtype.itemsize
        return spare[start:start + n]

    def give_aligned(self, *arrays):
        """Return arrays that :meth:`take_aligned` handed out (None skipped), and only those: they are
        filed by length and handed out again without a check of shape or alignment."""
        self._keep(self._free_aligned, arrays, lambda arr: (arr.shape[0], arr.dtype))

    def give(self, *arrays):
        """Return arrays nobody references any more; beyond ``per_key`` per shape they are dropped."""
        self._keep(self._free, arrays, lambda arr: (arr.shape, arr.dtype))

    def _keep(self, free_lists, arrays, key):
        for arr in arrays:
            if arr is None or arr.size == 0:
                continue
            free = free_lists.setdefault(key(arr), [])
            if len(free) < self._per_key:
                free.append(arr)
