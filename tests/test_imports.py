"""The package's layering: which modules may import which, and what ``import dagnet`` loads."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "dagnet"

# Each package (or top-level module) and the dagnet packages it must never import: the core
# imports nothing above itself, the periphery (analysis, cli, bench) is imported by no core module.
FORBIDDEN = {
    "wiring": {"layering", "plan", "engine", "nn", "evolve", "train", "topology", "analysis", "cli", "bench"},
    "layering": {"plan", "engine", "nn", "evolve", "train", "topology", "analysis", "cli", "bench"},
    "roles": {"plan", "engine", "nn", "evolve", "train", "topology", "analysis", "cli", "bench"},
    "plan": {"engine.runtime", "engine.function", "nn", "evolve", "train", "topology", "analysis", "cli", "bench"},
    "engine": {"activations", "plan", "nn", "evolve", "train", "topology", "analysis", "cli", "bench"},
    "topology": {"nn", "evolve", "train", "analysis", "cli", "bench", "engine", "plan"},
    "activations": {"nn", "evolve", "train", "topology", "analysis", "cli", "bench", "plan"},
    "nn": {"evolve", "train", "analysis", "cli", "bench"},
    "evolve": {"train", "analysis", "cli", "bench"},
    "train": {"cli", "bench"},
    "data": {"nn", "evolve", "train", "topology", "analysis", "cli", "bench", "engine", "plan"},
    "analysis": {"nn", "evolve", "train", "cli", "bench"},
    "distributed": {"evolve", "train", "analysis", "cli", "bench"},
}


def _dagnet_imports(path: Path) -> set[str]:
    """The dagnet modules ``path`` imports, as dotted names below ``dagnet``."""
    package = path.relative_to(SRC).with_suffix("").parts[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package[: len(package) - node.level + 1])
                name = ".".join(base + ([node.module] if node.module else []))
            elif node.module and node.module.startswith("dagnet"):
                name = node.module.removeprefix("dagnet").lstrip(".")
            else:
                continue
            found.add(name)
            found.update(f"{name}.{a.name}".lstrip(".") for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name.removeprefix("dagnet").lstrip(".") for a in node.names if a.name.startswith("dagnet"))
    return found


def _owner(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return parts[0]


@pytest.mark.parametrize("path", sorted(SRC.rglob("*.py")), ids=lambda p: str(p.relative_to(SRC)))
def test_imports_go_one_way(path):
    forbidden = FORBIDDEN.get(_owner(path), set())
    bad = sorted(
        name for name in _dagnet_imports(path) if any(name == f or name.startswith(f + ".") for f in forbidden)
    )
    assert not bad, f"{path.relative_to(SRC)} imports {bad}, above it in the layering"


def test_the_import_checker_sees_relative_imports_at_any_depth():
    assert {"engine.codes", "engine.codes.CUSTOM"} <= _dagnet_imports(SRC / "plan.py")
    assert {"train.loop", "train.loop.fit", "topology"} <= _dagnet_imports(SRC / "cli" / "config.py")
    assert "optim_state" not in _dagnet_imports(SRC / "nn" / "isotropic" / "model.py")
    assert "nn.optim_state" in _dagnet_imports(SRC / "nn" / "isotropic" / "model.py")


def test_import_dagnet_loads_no_plotting_statistics_or_gpu_compiler_library():
    code = (
        "import sys, dagnet; print(sorted(m for m in sys.modules if m.split('.')[0] in ('matplotlib', 'triton') "
        "or m.startswith('scipy.stats')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
