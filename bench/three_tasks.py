"""Three everyday tasks done with dagnet, with the lines of code each takes.

    python bench/three_tasks.py [--epochs 20]

1. **A network from a given DAG**: a random DAG of 400 neurons from networkx,
   wired to 64 inputs and 10 outputs (``topology.with_io``), trained on
   scikit-learn's digits.
2. **A sparse 64-256-256-10 MLP rewired by SET, then by RigL**: the same
   training with each rule.
3. **Save and reload**: the SET-trained MLP (a ``torch.nn.Sequential``)
   written with ``dagnet.save`` and read back with ``dagnet.load``
   (``weights_only`` safety), its outputs compared, its file size against
   the dense MLP's ``state_dict``.

Each task is one function below; the table counts the lines of its body
(without the docstring, comments and blank lines) and gives its wall time
and result. Every random choice comes from an explicit seed.
"""

from __future__ import annotations

import argparse
import inspect
import io
import os
import tempfile
import time
from pathlib import Path

import networkx as nx
import torch

import dagnet
from dagnet.data import load_digits
from dagnet.evolve import SET, RigL
from dagnet.nn import sparse_mlp
from dagnet.topology import with_io
from dagnet.train import fit


def network_from_a_dag(epochs: int) -> float:
    """Best test accuracy of a DAGNetwork built from a networkx DAG on digits."""
    g = nx.gnp_random_graph(400, 0.05, seed=0, directed=True)
    dag = nx.DiGraph((u, v) for u, v in g.edges if u < v)  # oriented by node number: acyclic
    dag.add_nodes_from(range(400))
    wiring = with_io(dag, 64, 10, fan_in=8, fan_out=32, seed=0)  # 64 pixels in, 10 classes out
    net = dagnet.DAGNetwork(wiring, seed=0)
    result = fit(net, load_digits(), optimizer=torch.optim.Adam, epochs=epochs, progress=False)
    return max(row["test_accuracy"] for row in result.metrics)


def sparse_mlp_with_set_or_rigl(epochs: int, rule: str) -> tuple[float, torch.nn.Module]:
    """Best test accuracy of a SET-MLP 64-256-256-10 rewired by ``rule`` ("set" or "rigl"), and the model."""
    mlp = sparse_mlp([64, 256, 256, 10], epsilon=20, seed=0)
    rules = [SET(zeta=0.3, seed=0)] if rule == "set" else [RigL(seed=0)]
    result = fit(mlp, load_digits(), optimizer=torch.optim.Adam, epochs=epochs, rules=rules, progress=False)
    return max(row["test_accuracy"] for row in result.metrics), mlp


def save_and_reload(model: torch.nn.Module, path: Path) -> bool:
    """Whether ``model`` written and read back computes exactly what it computed."""
    dagnet.save(model, path)
    same = dagnet.load(path)
    x = torch.randn(32, 64, generator=torch.Generator().manual_seed(0))
    return torch.equal(model.eval()(x), same.eval()(x))


def body_lines(fn) -> int:
    """Lines of ``fn``'s body, without its signature, docstring, comments and blank lines."""
    lines = inspect.getsource(fn).splitlines()[1:]
    doc = inspect.getdoc(fn)
    count, in_doc = 0, False
    for line in lines:
        s = line.strip()
        if doc and (s.startswith('"""') or in_doc):
            in_doc = not (s.endswith('"""') and (in_doc or len(s) > 3))
            continue
        if s and not s.startswith("#"):
            count += 1
    return count


def dense_state_dict_bytes() -> int:
    dense = torch.nn.Sequential(
        torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10)
    )
    buf = io.BytesIO()
    torch.save(dense.state_dict(), buf)
    return buf.tell()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args()
    print(f"load before: {os.getloadavg()[0]:.2f}; torch threads: {torch.get_num_threads()}")
    print()
    print("| task | lines | seconds | result |")
    print("|---|---|---|---|")
    t = time.perf_counter()
    acc = network_from_a_dag(args.epochs)
    print(
        f"| network from a networkx DAG (400 nodes), {args.epochs} epochs on digits | "
        f"{body_lines(network_from_a_dag)} | {time.perf_counter() - t:.1f} | best test accuracy {acc:.3f} |"
    )
    for rule in ("set", "rigl"):
        t = time.perf_counter()
        acc, mlp = sparse_mlp_with_set_or_rigl(args.epochs, rule)
        print(
            f"| SET-MLP 64-256-256-10 rewired by {rule.upper()}, {args.epochs} epochs | "
            f"{body_lines(sparse_mlp_with_set_or_rigl)} | {time.perf_counter() - t:.1f} | best test accuracy {acc:.3f} |"
        )
        if rule == "set":
            trained = mlp
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mlp.pt"
        t = time.perf_counter()
        same = save_and_reload(trained, path)
        seconds = time.perf_counter() - t
        size = path.stat().st_size
    edges = sum(m.num_edges for m in trained if isinstance(m, dagnet.DAGNetwork))
    print(
        f"| save and reload the SET-MLP | {body_lines(save_and_reload)} | {seconds:.2f} | "
        f"outputs identical: {same}; {size / 1024:.1f} KiB for {edges} connections "
        f"(dense state_dict: {dense_state_dict_bytes() / 1024:.1f} KiB) |"
    )
    print()
    print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
