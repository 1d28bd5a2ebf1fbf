"""The torch back end (any device, CUDA included): per-level sparse CSR products and a gathered SDDMM."""

from __future__ import annotations

import warnings

import numpy as np
import torch

from .codes import CUSTOM, IDENTITY, LEAKY_RELU, LEAKY_SLOPE, RELU, SIGMOID, TANH
from .runtime import Runtime

__all__ = ["TorchRuntime"]

# Largest (edges x batch) block the weight gradient gathers at once, to bound
# its temporary memory (64 Mi numbers).
_SDDMM_CHUNK = 1 << 26


class TorchRuntime(Runtime):
    """The passes as torch sparse operations, one level at a time."""

    backend = "torch"

    def __init__(self, index, level_ptr, num_inputs, groups, combines=()):
        super().__init__(index, level_ptr, num_inputs, groups, combines)
        self._level_index = None

    def _levels_torch(self):
        """Per-level CSR pieces, cut once and kept (device tensors)."""
        if self._level_index is None:
            ix = self.index
            in_ptr = ix["in_ptr"].cpu().numpy()
            out_ptr = ix["out_ptr"].cpu().numpy()
            levels = []
            for l in range(self.level_ptr.size - 1):
                a, b = int(self.level_ptr[l]), int(self.level_ptr[l + 1])
                ea, eb = int(in_ptr[a]), int(in_ptr[b])
                oa, ob = int(out_ptr[a]), int(out_ptr[b])
                col = ix["in_src"][ea:eb].long()
                ocol = ix["out_dst"][oa:ob].long()
                counts = torch.as_tensor(np.diff(out_ptr[a : b + 1]), device=col.device)
                levels.append(
                    dict(
                        a=a,
                        b=b,
                        ea=ea,
                        eb=eb,
                        crow=(ix["in_ptr"][a : b + 1] - ea).long(),
                        col=col,
                        ocrow=(ix["out_ptr"][a : b + 1] - oa).long(),
                        ocol=ocol,
                        oedge=ix["out_edge"][oa:ob].long(),
                        osrc=torch.repeat_interleave(torch.arange(a, b, device=col.device), counts),
                    )
                )
            self._level_index = levels
        return self._level_index

    def _forward_levels(self, H, weight, bias, act_params, saved) -> None:
        for l, lv in enumerate(self._levels_torch()):
            if l == 0 or lv["a"] == lv["b"]:
                continue
            a, b = lv["a"], lv["b"]
            z = bias[a - self.n_in : b - self.n_in, None].expand(b - a, H.shape[1]).clone()
            if lv["eb"] > lv["ea"]:
                W = _csr(lv["crow"], lv["col"], weight[lv["ea"] : lv["eb"]], (b - a, a))
                z += torch.sparse.mm(W, H[:a])
            H[a:b] = z
            for g in self._groups_by_level.get(l, ()):
                if g.code != CUSTOM:
                    H[g.start : g.end] = g.fn(H[g.start : g.end])
            self._apply_custom(H, l, act_params, saved)

    def _backward_levels(self, GO, H, saved, weight, bias, dw, db, act_params, dparams):
        G = torch.zeros_like(H)
        G.index_copy_(0, self.index["output_pos"], GO)
        for l in range(self.level_ptr.size - 2, -1, -1):
            lv = self._levels_torch()[l]
            a, b = lv["a"], lv["b"]
            if a == b:
                continue
            if lv["ocol"].numel():
                O = _csr(lv["ocrow"], lv["ocol"], weight[lv["oedge"]], (b - a, self.n))
                G[a:b] += torch.sparse.mm(O, G)
                _sddmm(G, H, lv["ocol"], lv["osrc"], lv["oedge"], dw)
            if l == 0:
                continue
            for g in self._groups_by_level.get(l, ()):
                if g.code != CUSTOM:
                    G[g.start : g.end] *= _FAST_DERIVATIVE[g.code](H[g.start : g.end])
                    db[g.start - self.n_in : g.end - self.n_in] = G[g.start : g.end].sum(1)
            self._custom_backward(G, l, saved, db, act_params, dparams)
        return G


def _csr(crow, col, values, size):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(crow, col, values, size=size, check_invariants=False)


def _sddmm(D, H, rows, cols, edges, out) -> None:
    """out[edges[k]] = <D[rows[k]], H[cols[k]]>, in chunks of bounded memory."""
    step = max(1, _SDDMM_CHUNK // max(1, D.shape[1]))
    for s in range(0, rows.numel(), step):
        r, c = rows[s : s + step], cols[s : s + step]
        out[edges[s : s + step]] = (D.index_select(0, r) * H.index_select(0, c)).sum(1)


_FAST_DERIVATIVE = {
    IDENTITY: lambda a: torch.ones_like(a),
    RELU: lambda a: (a > 0).to(a.dtype),
    TANH: lambda a: 1 - a * a,
    SIGMOID: lambda a: a * (1 - a),
    LEAKY_RELU: lambda a: torch.where(a > 0, torch.ones_like(a), torch.full_like(a, LEAKY_SLOPE)),
}
