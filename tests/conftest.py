"""Fixtures shared by the test suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent


def pytest_collection_modifyitems(config, items):
    """Leave out the tests marked ``triton_interpreter`` unless Triton's interpreter is on.

    Triton chooses its interpreter when first imported, so those tests run in
    a process of their own started with ``TRITON_INTERPRET=1``
    (``tests/test_engine_triton.py`` starts it).
    """
    if os.environ.get("TRITON_INTERPRET") == "1":
        return
    left = [item for item in items if item.get_closest_marker("triton_interpreter")]
    if left:
        config.hook.pytest_deselected(items=left)
        items[:] = [item for item in items if not item.get_closest_marker("triton_interpreter")]


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The folder of shared data files: ``$DAGNET_DATA``, else ``<repo>/../shared/data``.

    Skips the test when the folder is missing, except on CI (``CI=true``), where
    missing data is a failure.
    """
    env = os.environ.get("DAGNET_DATA")
    folder = Path(env) if env else REPO.parent / "shared" / "data"
    if not folder.is_dir():
        reason = (
            f"shared data folder {folder} not found; set DAGNET_DATA to the folder that holds "
            "the data files (see ../shared/data/README.md)"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return folder


@pytest.fixture(scope="module")
def one_thread():
    """Tiny matrices: a second thread only adds synchronisation (badly so on a busy machine)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
