"""Every example in the topology docstrings runs and prints what it says."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import dagnet.topology

MODULES = sorted(m.name for m in pkgutil.iter_modules(dagnet.topology.__path__, "dagnet.topology."))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    if not name.rsplit(".", 1)[1].startswith("_"):  # every public module shows examples
        assert result.attempted > 0


def test_every_public_function_has_an_example():
    for name in dagnet.topology.__all__:
        obj = getattr(dagnet.topology, name)
        assert ">>>" in (obj.__doc__ or ""), name
