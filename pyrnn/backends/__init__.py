"""Backend registry: one module per backend, each registering itself with a probe.

A backend module calls :func:`register` at import time with

* ``probe()`` -> ``None`` when the backend can run here, else a one-line reason
  ("numba is not installed", "no CUDA device found", ...). Probes must be
  cheap and must not import heavy optional dependencies when those are absent;
  the result is cached.
* ``load()`` -> the backend object (a :class:`~pyrnn.backends.base.Backend`
  subclass: the layers also use its ``xp``, ``to_device`` and ``to_host``), called
  once, the first time the backend is used.
* ``priority``: "auto" picks the available backend with the highest priority.
* ``auto``: True, or a sentence saying why "auto" must not pick this backend
  although it runs here (e.g. it has never been verified on real hardware).
  Naming such a backend explicitly works, with a one-time warning saying why.

Which cells a backend runs is data on its class: ``cells`` (default
:data:`~pyrnn.backends.base.BASE_CELLS`). "auto" asked for a cell
(``get_backend("auto", cell=mode)``) takes the best available backend that
runs it; a backend named explicitly for a cell it lacks raises
:class:`~pyrnn.backends.base.UnsupportedCellError`.

A backend is one place: a folder here (``c/``, ``numba/``, ``cuda/``) holding its
module, its kernels or its compiled build, listed in ``_BUILTIN_MODULES`` (the
numpy reference, with no kernels of its own, is the one module ``numpy_ref``).
Adding a backend changes nothing in the layers.
"""
import importlib
import warnings

from .base import Backend, BackendUnavailableError, unsupported_cell  # noqa: F401

# Modules imported to fill the registry (relative to this package); each calls register() when imported.
_BUILTIN_MODULES = ("numpy_ref", "numba.backend", "c.backend", "cuda.host", "cuda.backend")

_registry = {}      # name -> _Entry
_discovered = False


class _Entry:
    __slots__ = ("name", "probe", "load", "priority", "auto", "_reason", "_probed", "_instance", "_warned")

    def __init__(self, name, probe, load, priority, auto):
        self.name, self.probe, self.load, self.priority, self.auto = name, probe, load, priority, auto
        self._probed, self._reason, self._instance, self._warned = False, None, None, False

    def unavailable_reason(self):
        if not self._probed:
            try:
                self._reason = self.probe()
            except Exception as exc:  # a broken probe must not break the registry
                self._reason = f"probe failed: {type(exc).__name__}: {exc}"
            self._probed = True
        return self._reason

    def instance(self):
        """The loaded backend; a load that fails marks the backend unavailable (with why)."""
        if self._instance is None:
            if self.unavailable_reason() is not None:
                raise BackendUnavailableError(f"backend {self.name!r} is not available on this "
                                              f"machine: {self._reason}")
            try:
                self._instance = self.load()
            except Exception as exc:   # e.g. numba installed but broken against this NumPy
                self._reason = f"failed to load: {type(exc).__name__}: {exc}"
                raise BackendUnavailableError(f"backend {self.name!r} is not available on this "
                                              f"machine: {self._reason}") from exc
        return self._instance

    def cells(self):
        """The cells the backend runs: read from its class when ``load`` is one (nothing is
        loaded), else from the loaded instance."""
        if isinstance(self.load, type):
            return self.load.cells
        return self.instance().cells

    def dtypes(self):
        """The dtypes its kernels compute in, read like :meth:`cells`."""
        return (self.load if isinstance(self.load, type) else self.instance()).dtypes


def register(name, probe, load, priority=0, auto=True):
    """Register (or replace) a backend under ``name``; see the module docstring."""
    if not isinstance(name, str) or not name or name == "auto":
        raise ValueError(f"backend name must be a non-empty string other than 'auto', got {name!r}")
    if auto is not True and not (isinstance(auto, str) and auto):
        raise ValueError(f"auto must be True or a reason (a non-empty string), got {auto!r}")
    _registry[name] = _Entry(name, probe, load, priority, auto)


def unregister(name):
    """Remove a backend from the registry (used by tests and plug-ins)."""
    _registry.pop(name, None)


def _discover():
    global _discovered
    if not _discovered:
        _discovered = True
        for module in _BUILTIN_MODULES:
            importlib.import_module(f"{__name__}.{module}")


def backend_status():
    """Every known backend: ``{name: None if available else the reason it is not}``."""
    _discover()
    return {name: entry.unavailable_reason() for name, entry in _sorted_entries()}


def available_backends():
    """Names of the backends that can run here, best first (``"auto"`` picks the first it may choose
    that runs the requested cell)."""
    return [name for name, reason in backend_status().items() if reason is None]


def _per_backend(read):
    _discover()
    out = {}
    for name, entry in _sorted_entries():
        try:
            out[name] = tuple(read(entry))
        except BackendUnavailableError:   # a non-class loader of an unavailable backend
            out[name] = ()
    return out


def backend_cells():
    """``{name: the cells it runs}`` for every known backend (read from its class; nothing is loaded)."""
    return _per_backend(_Entry.cells)


def backend_dtypes():
    """``{name: the dtypes it computes in}`` for every known backend (read like :func:`backend_cells`)."""
    return _per_backend(_Entry.dtypes)


def auto_exclusions():
    """``{name: why}`` for the backends that "auto" never picks, available here or not."""
    _discover()
    return {name: entry.auto for name, entry in _sorted_entries() if entry.auto is not True}


def _sorted_entries():
    return sorted(_registry.items(), key=lambda kv: (-kv[1].priority, kv[0]))


def get_backend(name="auto", cell=None, dtype=None):
    """The backend object for ``name`` ("auto" = best available; with ``cell``, the best that runs it;
    with ``dtype``, e.g. "bfloat16", the best that computes in it).

    Raises ValueError for an unknown name (listing the available ones),
    BackendUnavailableError (a RuntimeError) for a known backend that cannot
    run on this machine, with the reason, and UnsupportedCellError (a
    BackendUnavailableError) for a named backend without kernels for ``cell``.
    """
    _discover()
    if not isinstance(name, str):
        raise TypeError(f"backend must be a string such as 'auto' or one of "
                        f"{available_backends()}, got {type(name).__name__}")
    if name == "auto":
        for candidate in available_backends():
            entry = _registry[candidate]
            if entry.auto is not True:
                continue          # runs here, but not verified: only when named
            try:
                if cell is not None and cell not in entry.cells():
                    continue      # a faster backend without kernels for this cell
                if dtype is not None and dtype not in entry.dtypes():
                    continue      # ... or without kernels in this dtype
                return entry.instance()
            except BackendUnavailableError:
                continue          # its load failed: the next best one
        if (cell is not None or dtype is not None) and available_backends():
            what = " ".join(filter(None, [dtype, cell and f"{cell} cell"]))
            raise BackendUnavailableError(f"no available pyrnn backend runs the {what} (available: "
                                          f"{', '.join(available_backends())}; bfloat16 runs on the c backend, "
                                          f"which needs a C compiler at install time)")
        raise BackendUnavailableError("no pyrnn backend is available: "
                                      + "; ".join(f"{n}: {r}" for n, r in backend_status().items()))
    entry = _registry.get(name)
    if entry is None:
        raise ValueError(f"unknown backend {name!r}; available backends: "
                         f"{', '.join(repr(n) for n in available_backends())} (or 'auto')")
    instance = entry.instance()
    if cell is not None and cell not in instance.cells:
        raise unsupported_cell(name, instance.cells, cell)
    if dtype is not None and dtype not in instance.dtypes:
        raise BackendUnavailableError(f"backend {name!r} computes in {' or '.join(instance.dtypes)}, not {dtype} "
                                      f"(bfloat16 runs on the c backend)")
    if entry.auto is not True and not entry._warned:
        entry._warned = True
        warnings.warn(f"pyrnn backend {name!r}: {entry.auto}", UserWarning, stacklevel=2)
    return instance
