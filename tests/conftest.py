"""pytest's shared fixtures (the shared constants and helpers: tests/shared.py, tests/tolerances.py)."""
import os

import pytest

import pyrnn


# PYRNN_TEST_BACKENDS=c,numba restricts the backend-parametrized tests (the sanitizer run uses it).
_BACKENDS = [b for b in pyrnn.available_backends()
             if b in os.environ.get("PYRNN_TEST_BACKENDS", b).split(",")]


@pytest.fixture(params=_BACKENDS)
def backend(request):
    """Every test taking this fixture runs once per backend available here."""
    return request.param
