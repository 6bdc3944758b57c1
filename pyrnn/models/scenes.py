"""Generated scenes for image captioning: two shapes on a black canvas, and captions from a small grammar.

A scene is two objects (size, colour, shape) in a relation: the first one
left of the second (``"left"`` layout) or above it (``"above"``). Its
captions are every phrasing the grammar has for it, e.g.

    a small red circle left of a large blue square
    a large blue square right of a small red circle
    there is a small red circle to the left of a large blue square
    there is a large blue square to the right of a small red circle

Everything is seeded and rendered with NumPy (no download). The test scenes
of :func:`split_combinations` are combinations (object, object, relation)
never shown in training: each object is familiar, the scene is not.
"""
import itertools

import numpy as np

from ..vocab import Vocabulary

SIZES = {"small": (2.5, 3.5), "large": (5.0, 6.5)}          # radius range in pixels
COLOURS = {"red": (0.95, 0.15, 0.1), "green": (0.1, 0.8, 0.15), "blue": (0.15, 0.3, 1.0),
           "yellow": (0.95, 0.9, 0.1), "purple": (0.65, 0.2, 0.9)}
SHAPES = ("circle", "square", "triangle")
LAYOUTS = ("left", "above")
OBJECTS = list(itertools.product(SIZES, COLOURS, SHAPES))     # 30 (size, colour, shape) triples

# layout -> phrasings; {a} is the first object (left / top), {b} the second.
PHRASINGS = {"left": ("a {a} left of a {b}", "a {b} right of a {a}",
                      "there is a {a} to the left of a {b}", "there is a {b} to the right of a {a}"),
             "above": ("a {a} above a {b}", "a {b} below a {a}",
                       "there is a {a} above a {b}", "there is a {b} below a {a}")}


def captions(scene):
    """Every phrasing of scene = (object a, object b, layout), as strings of space-separated words."""
    a, b, layout = scene
    return [p.format(a=" ".join(a), b=" ".join(b)) for p in PHRASINGS[layout]]


def all_combinations():
    """Every (a, b, layout) with two different objects: 30 * 29 * 2 = 1740 scenes' contents."""
    return [(a, b, lay) for a in OBJECTS for b in OBJECTS if a != b for lay in LAYOUTS]


def split_combinations(test_fraction=0.2, seed=0):
    """Disjoint (train combinations, test combinations), shuffled with a seed."""
    combos = all_combinations()
    order = np.random.default_rng(seed).permutation(len(combos))
    n_test = int(round(len(combos) * test_fraction))
    return [combos[i] for i in order[n_test:]], [combos[i] for i in order[:n_test]]


def _mask(shape, cx, cy, r, yy, xx):
    dx, dy = xx - cx, yy - cy
    if shape == "circle":
        return dx * dx + dy * dy <= r * r
    if shape == "square":
        return np.maximum(np.abs(dx), np.abs(dy)) <= 0.85 * r       # about the circle's area
    # An upward triangle from cy - r to cy + 0.8 r, widening linearly to a half-width of r.
    top, bottom = cy - r, cy + 0.8 * r
    half = r * (yy - top) / (bottom - top)
    return (yy >= top) & (yy <= bottom) & (np.abs(dx) <= half)


def _place(layout, ra, rb, size, rng):
    """Centres (xa, ya, xb, yb) inside the canvas with a clearly first (left / top), never overlapping."""
    for _ in range(1000):
        xa, ya = rng.uniform(ra, size - ra, 2)
        xb, yb = rng.uniform(rb, size - rb, 2)
        along, across = (xb - xa, abs(yb - ya)) if layout == "left" else (yb - ya, abs(xb - xa))
        # Gap of at least a pixel along the relation, and the relation dominates the other axis.
        if along >= ra + rb + 1 and across <= 0.5 * along:
            return xa, ya, xb, yb
    raise RuntimeError(f"could not place radii {ra:.1f}, {rb:.1f} on a {size}-pixel canvas")


def render(scene, size=32, noise=0.03, rng=None):
    """scene -> image (size, size, 3) float32 in [0, 1]: black, the two shapes, a little pixel noise."""
    rng = np.random.default_rng() if rng is None else rng
    (sa, ca, ha), (sb, cb, hb), layout = scene
    ra, rb = rng.uniform(*SIZES[sa]), rng.uniform(*SIZES[sb])
    xa, ya, xb, yb = _place(layout, ra, rb, size, rng)
    yy, xx = np.mgrid[0:size, 0:size] + 0.5                      # pixel centres
    img = np.zeros((size, size, 3))
    for shape, colour, cx, cy, r in ((ha, ca, xa, ya, ra), (hb, cb, xb, yb, rb)):
        img[_mask(shape, cx, cy, r, yy, xx)] = COLOURS[colour]
    img += noise * rng.standard_normal(img.shape)
    return np.clip(img, 0, 1).astype(np.float32)


def make_scenes(combinations, n, size=32, seed=0):
    """n scenes drawn uniformly from combinations -> (images (n, size, size, 3) float32, list of n scenes)."""
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(combinations), size=n)
    scenes = [combinations[i] for i in picks]
    images = np.stack([render(s, size, rng=rng) for s in scenes]) if n else np.zeros((0, size, size, 3), np.float32)
    return images, scenes


def caption_vocabulary(words=None):
    """The grammar's words as a space-level :class:`~pyrnn.vocab.Vocabulary`: ids 0 padding, 1 start,
    2 end of caption, then every word any caption can use (or ``words``)."""
    if words is None:
        words = set()
        for layout, phrasings in PHRASINGS.items():
            for p in phrasings:
                words |= set(p.replace("{a}", "").replace("{b}", "").split())
        words |= set(SIZES) | set(COLOURS) | set(SHAPES)
    return Vocabulary.of(words, level="space")
