"""Where the compiled Numba kernels are cached: a per-user folder, never inside the installed package.

Numba's ``cache=True`` writes next to the source file by default, i.e. into
``site-packages/pyrnn/.../__pycache__`` for a normal install: files pip does
not know about, which survive ``pip uninstall`` and then turn the leftover
``site-packages/pyrnn`` folder into a namespace package that shadows a later
(editable) install; site-packages may also be read-only. The kernels are
therefore cached under ``$XDG_CACHE_HOME/pyrnn/numba/<digest>`` (default
``~/.cache``; the temporary folder when that is not writable), in a folder
named by a digest of every jitted source: Numba checks only the decorated
function's own file for staleness, while the kernels inline the activations
of a sibling file.

Every module of pyrnn that jits with ``cache=True`` calls
:func:`install_cache_locator` before its first ``@njit`` (numba picks the
cache folder at decoration time). A ``NUMBA_CACHE_DIR`` set by the user wins
(Numba then uses it as usual). Only pyrnn's own files are redirected; other
Numba code in the process is not.
"""
import hashlib
import os
import pathlib
import tempfile

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
# The files that hold cache=True functions (and what they inline).
JITTED_SOURCES = ("_blas.py", os.path.join("backends", "numba", "kernels", "*.py"))
_installed = False


def sources_digest():
    """A short digest of every jitted source file (a new pyrnn version gets a fresh cache folder)."""
    digest = hashlib.sha256()
    for pattern in JITTED_SOURCES:
        for path in sorted(pathlib.Path(PACKAGE_DIR).glob(pattern)):
            digest.update(str(path.relative_to(PACKAGE_DIR)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def cache_root():
    """The writable per-user folder for this version of the kernels, or None when there is none."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    candidates = [os.path.join(base, "pyrnn", "numba"),
                  os.path.join(tempfile.gettempdir(), f"pyrnn-numba-{os.getuid() if hasattr(os, 'getuid') else 0}")]
    for root in candidates:
        folder = os.path.join(root, sources_digest())
        try:
            os.makedirs(folder, exist_ok=True)
            tempfile.TemporaryFile(dir=folder).close()
            return folder
        except OSError:
            continue
    return None


def install_cache_locator():
    """Make Numba cache pyrnn's jitted functions in :func:`cache_root` (once per process)."""
    global _installed
    if _installed or os.environ.get("NUMBA_CACHE_DIR"):
        return
    _installed = True
    root = cache_root()
    from numba.core import caching, config

    if root is None:
        return       # nowhere writable, not even the temporary folder: Numba's own fallbacks
    # Numba's locator classes are private API (renamed between releases): found by either name.
    base = getattr(caching, "UserProvidedCacheLocator", None) or getattr(caching, "_UserProvidedCacheLocator", None)
    impl = getattr(caching, "CacheImpl", None) or getattr(caching, "_CacheImpl", None)
    if base is None or impl is None or not isinstance(getattr(impl, "_locator_classes", None), list):
        if not config.CACHE_DIR:
            config.CACHE_DIR = root            # coarser: every cached Numba function of the process
        return

    class PyrnnKernelCacheLocator(base):
        """Numba's user-provided-folder locator, for pyrnn's own files only, rooted at `root`."""

        def __init__(self, py_func, py_file):
            self._py_file = py_file
            self._lineno = py_func.__code__.co_firstlineno
            self._cache_path = os.path.join(root, self.get_suitable_cache_subpath(py_file))

        @classmethod
        def from_function(cls, py_func, py_file):
            path = os.path.abspath(py_file)
            if os.path.commonpath([path, PACKAGE_DIR]) != PACKAGE_DIR or not os.path.exists(path):
                return None
            locator = cls(py_func, py_file)
            try:
                locator.ensure_cache_path()
            except OSError:
                return None
            return locator

    impl._locator_classes.insert(0, PyrnnKernelCacheLocator)
