"""Saved file size of a SparseLinear against the dense nn.Linear, by density.

    python bench/file_size.py [--sizes 1024x1024 784x300 40000x100] [--out results.md]

For each layer size and density (1% to 50%) a float32 ``SparseLinear`` is
written with ``dagnet.save`` and with ``torch.save(layer.state_dict())``; the
dense ``nn.Linear`` of the same size with ``torch.save(linear.state_dict())``
(and ``dagnet.save``, which adds the model's structure); the last default
size has more positions than int16 holds, so its sources are int32. The table gives the
sizes, the sparse file's share of the dense one, its bytes per connection
(whole file / connections; 4 of them the float32 weight), the integer type of
its sources, and the layout of the files before format 3 (every index buffer
of the layer, plus an int64 source and target per edge, as those files
held). Every file is loaded back (``dagnet.load``, which reads with
``torch.load(weights_only=True)``) and must compute the saved layer's outputs
exactly. File sizes do not depend on the machine's load.
"""

from __future__ import annotations

import argparse
import os
import tempfile

import torch
from torch import nn

import dagnet
from dagnet.nn.dag_network import _INDEX_BUFFERS

DENSITIES = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5)


def _size(path: str) -> int:
    return os.path.getsize(path)


def _torch_file(obj, path: str) -> int:
    torch.save(obj, path)
    return _size(path)


def _before_format_3(layer: dagnet.SparseLinear, path: str) -> tuple[int, int]:
    """Bytes of the layer's file and state_dict in the layout before format 3.

    The state_dict held every index buffer as the layer holds it; the file
    that, plus an int64 source and target per edge.
    """
    wiring = layer.to_wiring()
    state = {**layer.state_dict(), **{k: getattr(layer, k) for k in _INDEX_BUFFERS}}
    state = {k: v.clone() for k, v in state.items()}
    edges = {"source": torch.from_numpy(wiring.source), "target": torch.from_numpy(wiring.target)}
    return _torch_file({**edges, "state_dict": state}, path), _torch_file(state, path)


def measure(n_in: int, n_out: int, folder: str) -> list[dict]:
    """One row per density for an ``n_in x n_out`` layer (sizes in bytes)."""
    p = os.path.join(folder, "f.pt")
    linear = nn.Linear(n_in, n_out)
    dense = _torch_file(linear.state_dict(), p)
    dagnet.save(linear, p)
    dense_dagnet = _size(p)
    x = torch.randn(8, n_in, generator=torch.Generator().manual_seed(0))
    rows = []
    for density in DENSITIES:
        layer = dagnet.SparseLinear(n_in, n_out, density=density, seed=0)
        dagnet.save(layer, p)
        saved = _size(p)
        back = dagnet.load(p)
        loads = type(back) is dagnet.SparseLinear and torch.equal(back(x), layer(x))
        state = layer.state_dict()
        rows.append(
            dict(
                size=f"{n_in}x{n_out}",
                density=density,
                edges=layer.num_edges,
                dense=dense,
                dense_dagnet=dense_dagnet,
                sparse=saved,
                sparse_state=_torch_file(state, p),
                before=_before_format_3(layer, p)[0],
                before_state=_before_format_3(layer, p)[1],
                index_type=str(state["in_src"].dtype).replace("torch.", ""),
                loads=loads,
            )
        )
    return rows


def table(rows: list[dict]) -> str:
    head = (
        "| layer | density | connections | nn.Linear (torch.save) | nn.Linear (dagnet.save) | "
        "SparseLinear (dagnet.save) | SparseLinear (torch.save state_dict) | sparse / dense | "
        "bytes per connection | sources | before: file, state_dict (bytes per connection) | loads back exactly |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = [
        f"| {r['size']} | {r['density']:.0%} | {r['edges']:,} | {r['dense']:,} | {r['dense_dagnet']:,} | "
        f"{r['sparse']:,} | {r['sparse_state']:,} | {r['sparse'] / r['dense']:.2f} | "
        f"{r['sparse'] / r['edges']:.2f} | {r['index_type']} | {r['before'] / r['edges']:.1f}, "
        f"{r['before_state'] / r['edges']:.1f} | "
        f"{'yes' if r['loads'] else 'NO'} |"
        for r in rows
    ]
    return head + "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["1024x1024", "784x300", "40000x100"])
    parser.add_argument("--out", help="also write the table to this markdown file")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for size in args.sizes:
            n_in, n_out = (int(s) for s in size.split("x"))
            rows += measure(n_in, n_out, folder)
    text = table(rows)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    if not all(r["loads"] for r in rows):
        raise SystemExit("a saved layer did not load back exactly")


if __name__ == "__main__":
    main()
