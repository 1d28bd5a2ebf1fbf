"""Every example in dagnet's docstrings runs and prints what it says."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import dagnet

MODULES = sorted(
    m.name for m in pkgutil.walk_packages(dagnet.__path__, "dagnet.") if not m.name.startswith("dagnet.topology")
)  # topology: test_topology_docs.py


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_public_api_has_examples():
    for name in ("DAGNetwork", "Wiring", "save", "load"):
        assert ">>>" in getattr(dagnet, name).__doc__, name
    for name in ("asap", "alap", "bounded_width", "topological_levels"):
        assert ">>>" in getattr(dagnet.layering, name).__doc__, name
