"""Tiling small images into one picture (the generative examples' sample grids)."""
import numpy as np


def tile(images, cols, pad=1, fill=0.5):
    """images (N, h, w) in [0, 1] -> one (rows*(h+pad)-pad, cols*(w+pad)-pad) array, row-major, grey gaps."""
    images = np.asarray(images, dtype=np.float64)
    n, h, w = images.shape
    rows = -(-n // cols)
    out = np.full((rows * (h + pad) - pad, cols * (w + pad) - pad), fill)
    for i, img in enumerate(images):
        r, c = divmod(i, cols)
        out[r * (h + pad):r * (h + pad) + h, c * (w + pad):c * (w + pad) + w] = img
    return out


def show(ax, images, cols, title=None, fontsize=9):
    """Draw tile(images, cols) on ax, ink dark on white, without ticks."""
    ax.imshow(tile(images, cols), cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=fontsize)
