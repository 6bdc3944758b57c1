"""The buffer pool's aligned work buffers: what the C kernels' 64-byte sections rely on."""
import numpy as np
import pytest

from pyrnn.backends.workspace import ALIGN, BufferPool


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 1000, 1_000_003])
def test_take_aligned_starts_on_a_cache_line_and_is_reused(n, dtype):
    pool = BufferPool()
    work = pool.take_aligned(n, dtype)
    assert work.shape == (n,) and work.dtype == dtype and work.flags.c_contiguous
    assert work.ctypes.data % ALIGN == 0
    work[:] = 1                       # the whole view is writable memory
    pool.give_aligned(work)
    again = pool.take_aligned(n, dtype)
    assert again.ctypes.data == work.ctypes.data


def test_take_aligned_never_hands_out_an_array_given_back_unaligned():
    pool = BufferPool()
    spare = np.empty(1100, np.float32)
    off = next(k for k in range(1, 17) if (spare.ctypes.data + 4 * k) % ALIGN)   # an unaligned start
    unaligned = spare[off:off + 1000]
    pool.give(unaligned)
    work = pool.take_aligned(1000, np.float32)
    assert work.ctypes.data % ALIGN == 0 and work.ctypes.data != unaligned.ctypes.data
    assert pool.take((1000,), np.float32) is unaligned   # the plain pool still reuses it


def test_the_pool_keeps_at_most_per_key_arrays_of_a_kind():
    pool = BufferPool(per_key=2)
    arrays = [pool.take_aligned(100, np.float64) for _ in range(3)]
    pool.give_aligned(*arrays, None)
    again = {id(pool.take_aligned(100, np.float64)) for _ in range(3)}
    assert len(again & {id(a) for a in arrays}) == 2
