"""Neuron-model layers: dendritic trees, dendrite-activated connections, active
dendrites with kWTA, randomly wired blocks and preferential-attachment rewiring."""

from __future__ import annotations

import math

import networkx as nx
import pytest
import torch
from torch import nn
from torch.autograd import gradcheck

from dagnet import Wiring
from dagnet.activations import ADA, ada
from dagnet.errors import CycleError, EmptyGraphError, InputShapeError
from dagnet.nn.active_dendrites import ActiveDendrites, k_winners_take_all
from dagnet.nn.dendrite_activated import DendriteActivatedLinear
from dagnet.nn.dendritic_tree import DendriticTree
from dagnet.nn.preferential_attachment import rewire_pa_
from dagnet.nn.randomly_wired import RandomlyWiredBlocks
from dagnet.seeding import torch_generator
from dagnet.topology import erdos_renyi_dag

F64 = torch.float64


def _randn(*shape, seed=0, dtype=F64):
    return torch.randn(*shape, generator=torch_generator(seed), dtype=dtype)


def _one_step_changes_everything(model: nn.Module, loss_fn) -> None:
    """Forward, backward and one SGD step change every parameter of ``model``."""
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    opt.zero_grad()
    loss = loss_fn()
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    opt.step()
    after = dict(model.named_parameters())
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert changed == list(before), f"unchanged: {set(before) - set(changed)}"
    assert loss_fn() < loss


# ----------------------------------------------------------------------------- DendriticTree
def _tree_reference(tree: DendriticTree, x: torch.Tensor) -> torch.Tensor:
    """The tree as dense block-masked matrices, one level at a time."""
    h = x
    for lvl, w in enumerate(tree.weights):
        units, b = w.shape
        dense = torch.zeros(units, units * b, dtype=w.dtype)
        for u in range(units):
            dense[u, u * b : (u + 1) * b] = w[u]
        h = h @ dense.T + (tree.biases[lvl] if len(tree.biases) else 0)
        if lvl < tree.depth - 1:
            h = torch.where(h > 0, h, 0.1 * h)
    return h


@pytest.mark.parametrize("out,b,depth", [(3, 2, 1), (2, 3, 2), (4, 2, 3), (1, 5, 2)])
def test_dendritic_tree_matches_block_masked_reference(out, b, depth):
    tree = DendriticTree(out, b, depth, seed=1, dtype=F64).eval()
    assert tree.in_features == out * b**depth
    x = _randn(7, tree.in_features, seed=2)
    torch.testing.assert_close(tree(x), _tree_reference(tree, x), rtol=1e-13, atol=1e-13)
    assert tree(_randn(2, 3, tree.in_features, seed=3)).shape == (2, 3, out)


def test_dendritic_tree_output_depends_only_on_its_block():
    out, b, depth = 4, 3, 2
    tree = DendriticTree(out, b, depth, seed=4, dtype=F64).eval()
    block = b**depth
    x = _randn(5, tree.in_features, seed=5).requires_grad_()
    y = tree(x)
    for n in range(out):
        (grad,) = torch.autograd.grad(y[:, n].sum(), x, retain_graph=True)
        inside = torch.zeros(tree.in_features, dtype=torch.bool)
        inside[n * block : (n + 1) * block] = True
        assert (grad[:, ~inside] == 0).all(), n
        assert (grad[:, inside] != 0).all(), n  # LeakyReLU: every input of the block matters


def test_dendritic_tree_dropout_uses_own_seeded_generator():
    x = torch.ones(200, 2 * 4**2, dtype=F64)
    a = DendriticTree(2, 4, 2, dropout=0.25, seed=6, dtype=F64)
    b = DendriticTree(2, 4, 2, dropout=0.25, seed=6, dtype=F64)
    state = torch.random.get_rng_state()
    ya, yb = a(x), b(x)
    assert torch.equal(torch.random.get_rng_state(), state)  # the global generator is untouched
    torch.testing.assert_close(ya, yb, rtol=0, atol=0)  # same seed, same masks
    assert not torch.equal(a(x), ya)  # fresh masks on the next call
    # the fraction of dropped inputs is about p, and kept inputs are scaled by 1/(1-p)
    first = DendriticTree(32, 1, 1, dropout=0.25, bias=False, seed=7, dtype=F64)
    with torch.no_grad():
        first.weights[0].fill_(1.0)
    z = first(torch.ones(2000, 32, dtype=F64))
    assert set(torch.unique(z).tolist()) <= {0.0, 1 / 0.75}
    assert abs((z == 0).double().mean().item() - 0.25) < 0.01
    a.eval()
    torch.testing.assert_close(a(x), _tree_reference(a, x))  # no dropout in eval mode


def test_dendritic_tree_init_and_attributes():
    tree = DendriticTree(3, 4, 2, seed=8, dtype=F64)
    assert [tuple(w.shape) for w in tree.weights] == [(12, 4), (3, 4)]
    assert all((w.abs() <= 0.5).all() for w in tree.weights)  # U(±1/sqrt(b)), b = 4
    assert all(w.std() > 0.2 for w in tree.weights)
    again = DendriticTree(3, 4, 2, seed=8, dtype=F64)
    assert all(torch.equal(p, q) for p, q in zip(tree.parameters(), again.parameters()))
    other = DendriticTree(3, 4, 2, seed=9, dtype=F64)
    assert not torch.equal(tree.weights[0], other.weights[0])
    assert sorted(tree.state_dict()) == ["biases.0", "biases.1", "weights.0", "weights.1"]
    assert DendriticTree(3, 4, 2, bias=False).state_dict().keys() == {"weights.0", "weights.1"}
    assert "in_features=48, out_features=3, branching=4, depth=2, dropout=0.1" in repr(tree)
    old = tree.weights[0].detach().clone()
    tree.reset_parameters()
    assert not torch.equal(old, tree.weights[0])
    assert tree.weights[0].dtype == F64 and DendriticTree(1, 2, 1).weights[0].dtype == torch.float32


def test_dendritic_tree_validation():
    with pytest.raises(ValueError, match=r"The 'depth' parameter of DendriticTree must be an int >= 1\. Got 0"):
        DendriticTree(2, 2, 0)
    with pytest.raises(
        ValueError,
        match=r"The 'dropout' parameter of DendriticTree must be a float "
        r"in \[0, 1\)\. Got 1\.0",
    ):
        DendriticTree(2, 2, 1, dropout=1.0)
    with pytest.raises(InputShapeError, match=r"expected input of shape \(\*, 8\)"):
        DendriticTree(2, 2, 2)(torch.zeros(3, 7))


def test_dendritic_tree_gradcheck_and_training():
    tree = DendriticTree(2, 3, 2, seed=10, dtype=F64).eval()
    x = _randn(4, 18, seed=11).requires_grad_()
    names = [n for n, _ in tree.named_parameters()]

    def fn(x, *ps):
        return torch.func.functional_call(tree, dict(zip(names, ps)), (x,))

    assert gradcheck(fn, (x, *tree.parameters()))
    model = nn.Sequential(
        DendriticTree(4, 2, 2, seed=12, dtype=F64), nn.Tanh(), DendriticTree(1, 4, 1, seed=13, dtype=F64)
    )
    xb, yb = _randn(16, 16, seed=14), _randn(16, 1, seed=15)
    model.eval()  # deterministic loss for the before/after comparison
    _one_step_changes_everything(model, lambda: nn.functional.mse_loss(model(xb), yb))


# ----------------------------------------------------------------------------- DendriteActivatedLinear
def _dal_reference(layer, x, fn):
    z = fn(x[:, None, :] + layer.offset[None])  # (B, out, in)
    y = (z * layer.weight[None]).sum(-1)
    return y + layer.bias if layer.bias is not None else y


@pytest.mark.parametrize("activation,fn", [("relu", torch.relu), ("ada", ada), ("tanh", torch.tanh)])
def test_dendrite_activated_matches_formula(activation, fn):
    layer = DendriteActivatedLinear(5, 7, activation=activation, seed=1, dtype=F64)
    with torch.no_grad():
        layer.offset.copy_(_randn(7, 5, seed=2))
    x = _randn(6, 5, seed=3) * 3
    torch.testing.assert_close(layer(x), _dal_reference(layer, x, fn), rtol=1e-13, atol=1e-13)
    # y_j for one j, i by i, as written in the paper's reading
    j = 4
    want = sum(layer.weight[j, i] * fn(x[:, i] + layer.offset[j, i]) for i in range(5)) + layer.bias[j]
    torch.testing.assert_close(layer(x)[:, j], want, rtol=1e-13, atol=1e-13)


def test_dendrite_activated_chunks_give_the_same_values_and_gradients():
    full = DendriteActivatedLinear(6, 9, seed=4, dtype=F64)
    tiny = DendriteActivatedLinear(6, 9, seed=4, dtype=F64, max_chunk_elements=40)
    with torch.no_grad():
        for layer in (full, tiny):
            layer.offset.copy_(_randn(9, 6, seed=5) * 0.5)
    x = _randn(3, 6, seed=6)
    assert full.chunk_size(3) == 9 and tiny.chunk_size(3) == 2  # 40 // (3 * 6): five chunks
    ys = [layer(x) for layer in (full, tiny)]
    torch.testing.assert_close(ys[0], ys[1], rtol=0, atol=1e-14)
    grads = []
    for layer, y in zip((full, tiny), ys):
        y.pow(2).sum().backward()
        grads.append([p.grad for p in layer.parameters()])
    for g0, g1 in zip(*grads):
        torch.testing.assert_close(g0, g1, rtol=1e-13, atol=1e-13)
    xr = x.clone().requires_grad_()
    assert gradcheck(
        lambda x, w, c, b: torch.func.functional_call(tiny, {"weight": w, "offset": c, "bias": b}, (x,)),
        (xr, *tiny.parameters()),
    )


def test_dendrite_activated_module_activation_trains_and_bias_off():
    act = ADA(0.3, trainable=True, dtype=F64)
    layer = DendriteActivatedLinear(4, 3, activation=act, bias=False, seed=7, dtype=F64)
    assert layer.bias is None and "activation.alpha" in layer.state_dict()
    assert "in_features=4, out_features=3, activation=ADA, bias=False" in repr(layer)
    x, y = _randn(10, 4, seed=8) * 4, _randn(10, 3, seed=9)
    _one_step_changes_everything(layer, lambda: nn.functional.mse_loss(layer(x), y))
    assert layer.offset.abs().sum() > 0  # offsets learn from 0
    with pytest.raises(ValueError, match="Unknown activation 'nope'"):
        DendriteActivatedLinear(2, 2, activation="nope")
    with pytest.raises(InputShapeError, match=r"\(\*, 4\)"):
        layer(torch.zeros(2, 5, dtype=F64))


def test_dendrite_activated_in_a_model():
    model = nn.Sequential(
        DendriteActivatedLinear(3, 8, seed=10, dtype=F64),
        DendriteActivatedLinear(8, 2, activation="tanh", seed=11, dtype=F64, max_chunk_elements=16),
    )
    x, y = _randn(12, 3, seed=12), _randn(12, 2, seed=13)
    _one_step_changes_everything(model, lambda: nn.functional.mse_loss(model(x), y))


# ----------------------------------------------------------------------------- ActiveDendrites
def _active_reference(layer, x, ctx):
    t = x @ layer.weight.T + layer.bias
    d = torch.einsum("bc,nsc->bns", ctx, layer.segment_weight)
    if layer.abs_max:
        sel = d.gather(-1, d.abs().argmax(-1, keepdim=True)).squeeze(-1)
    else:
        sel = d.max(-1).values
    y = t * torch.sigmoid(sel)
    keep = torch.zeros_like(y, dtype=torch.bool)
    keep.scatter_(1, y.argsort(1, descending=True)[:, : layer.k], True)
    return torch.where(keep, y, torch.zeros_like(y))


@pytest.mark.parametrize("abs_max", [False, True])
@pytest.mark.parametrize("k", [1, 3, 10])
def test_active_dendrites_matches_formula_and_keeps_k(abs_max, k):
    layer = ActiveDendrites(6, 10, context_features=4, segments=5, k=k, abs_max=abs_max, seed=1, dtype=F64)
    x, ctx = _randn(50, 6, seed=2), _randn(50, 4, seed=3)
    y = layer(x, ctx)
    assert ((y != 0).sum(dim=1) == k).all()
    torch.testing.assert_close(y, _active_reference(layer, x, ctx), rtol=1e-14, atol=0)
    # the kept units are the k largest of t * sigmoid(d)
    gated = (x @ layer.weight.T + layer.bias) * layer.dendrite_activations(ctx).sigmoid()
    kept_min = gated.where(y != 0, math.inf).min(1).values
    lost_max = gated.where(y == 0, -math.inf).max(1).values
    assert (kept_min >= lost_max).all()


def test_active_dendrites_abs_max_keeps_the_sign():
    layer = ActiveDendrites(1, 1, context_features=1, segments=3, k=1, abs_max=True, seed=0, dtype=F64)
    with torch.no_grad():
        layer.segment_weight.copy_(torch.tensor([[[0.5], [-2.0], [1.0]]]))
        layer.weight.fill_(1.0)
        layer.bias.zero_()
    ctx = torch.ones(1, 1, dtype=F64)
    assert layer.dendrite_activations(ctx).item() == -2.0  # largest |d|, sign kept
    torch.testing.assert_close(
        layer(torch.full((1, 1), 3.0, dtype=F64), ctx),
        torch.tensor([[3.0 * torch.sigmoid(torch.tensor(-2.0)).item()]], dtype=F64),
    )
    layer.abs_max = False
    assert layer.dendrite_activations(ctx).item() == 1.0


def test_active_dendrites_context_broadcasts_and_validation():
    layer = ActiveDendrites(3, 5, context_features=2, segments=2, k=2, seed=4)
    x, ctx = torch.ones(4, 3), torch.tensor([0.5, -1.0])
    torch.testing.assert_close(layer(x, ctx), layer(x, ctx.expand(4, 2)))
    with pytest.raises(
        ValueError,
        match=r"The 'k' parameter of ActiveDendrites must be an int in "
        r"\[1, out_features\] \(out_features is 5\). Got 0 instead.",
    ):
        ActiveDendrites(3, 5, context_features=2, segments=2, k=0)
    with pytest.raises(ValueError, match="The 'k' parameter of ActiveDendrites"):
        ActiveDendrites(3, 5, context_features=2, segments=2, k=6)
    with pytest.raises(InputShapeError, match="context_features = 2"):
        layer(x, torch.ones(4, 3))
    with pytest.raises(ValueError, match="The 'k' parameter of k_winners_take_all"):
        k_winners_take_all(torch.ones(2, 3), 4)


def test_k_winners_take_all_exactly_k_with_ties_and_gradients():
    x = torch.tensor([[1.0, 1.0, 1.0, 0.5], [-3.0, -1.0, -2.0, -4.0]], requires_grad=True)
    y = k_winners_take_all(x, 2)
    assert ((y != 0).sum(1) == 2).all()  # ties broken, never more than k
    assert y[1].tolist() == [0.0, -1.0, -2.0, 0.0]  # negatives can win
    y.sum().backward()
    assert torch.equal(x.grad, (y != 0).float())  # gradients reach the winners only


def test_active_dendrites_trains_and_gradcheck():
    layer = ActiveDendrites(4, 6, context_features=3, segments=3, k=4, seed=5, dtype=F64)
    x, ctx, y = _randn(20, 4, seed=6), _randn(20, 3, seed=7), _randn(20, 6, seed=8)
    before = layer.segment_weight.detach().clone()
    _one_step_changes_everything(layer, lambda: nn.functional.mse_loss(layer(x, ctx), y))
    assert not torch.equal(before, layer.segment_weight)
    full = ActiveDendrites(3, 4, context_features=2, segments=3, k=4, seed=9, dtype=F64)
    xs, cs = _randn(3, 3, seed=10).requires_grad_(), _randn(3, 2, seed=11).requires_grad_()
    assert gradcheck(full, (xs, cs))


# ----------------------------------------------------------------------------- RandomlyWiredBlocks
def test_randomly_wired_chain_is_an_mlp():
    chain = nx.DiGraph([("a", "b"), ("b", "c")])
    model = RandomlyWiredBlocks(3, 2, hidden=5, graph=chain, seed=1, dtype=F64)
    assert model.nodes == ["a", "b", "c"] and model.sources == [0] and model.sinks == [2]
    l0, l1, l2 = model.blocks
    x = _randn(7, 3, seed=2)
    half = torch.sigmoid(torch.tensor(0.0)).item()  # edge weights start at sigmoid(0)
    want = l2(torch.relu(half * l1(torch.relu(half * l0(x)))))
    torch.testing.assert_close(model(x), want, rtol=1e-14, atol=1e-14)


def _blocks_reference(model, graph, x):
    out = {}
    index = {v: i for i, v in enumerate(graph.nodes)}
    edge = {e: k for k, e in enumerate(graph.edges)}
    for v in nx.topological_sort(graph):
        preds = list(graph.predecessors(v))
        if preds:
            a = torch.relu(sum(torch.sigmoid(model.edge_logits[edge[u, v]]) * out[u] for u in preds))
        else:
            a = x
        out[v] = model.blocks[index[v]](a)
    sinks = [v for v in graph.nodes if graph.out_degree(v) == 0]
    return sum(out[v] for v in sinks) / len(sinks)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_randomly_wired_matches_reference_on_random_dags(seed):
    graph = erdos_renyi_dag(9, 0.35, seed=seed)
    model = RandomlyWiredBlocks(4, 3, hidden=6, graph=graph, seed=seed, dtype=F64)
    with torch.no_grad():
        model.edge_logits.copy_(_randn(model.num_edges, seed=seed + 10))
    x = _randn(5, 4, seed=seed + 20)
    torch.testing.assert_close(model(x), _blocks_reference(model, graph, x), rtol=1e-13, atol=1e-13)
    for i, block in enumerate(model.blocks):
        assert block.in_features == (4 if graph.in_degree(i) == 0 else 6)
        assert block.out_features == (3 if graph.out_degree(i) == 0 else 6)
    same = RandomlyWiredBlocks(4, 3, hidden=6, graph=Wiring.from_graph(graph), seed=seed, dtype=F64)
    assert all(torch.equal(p, q) for p, q in zip(same.blocks.parameters(), model.blocks.parameters()))


def test_randomly_wired_isolated_nodes_average():
    g = nx.DiGraph()
    g.add_nodes_from([0, 1])
    model = RandomlyWiredBlocks(2, 1, hidden=4, graph=g, seed=3, dtype=F64)
    x = _randn(6, 2, seed=4)
    torch.testing.assert_close(model(x), (model.blocks[0](x) + model.blocks[1](x)) / 2)


def test_randomly_wired_trains_and_validates():
    model = RandomlyWiredBlocks(3, 2, hidden=8, graph=erdos_renyi_dag(6, 0.5, seed=5), seed=6, dtype=F64)
    assert "hidden=8, blocks=6" in repr(model)
    assert model.edge_logits.shape == (model.num_edges,) and model.num_edges > 0
    x, y = _randn(16, 3, seed=7), _randn(16, 2, seed=8)
    _one_step_changes_everything(model, lambda: nn.functional.mse_loss(model(x), y))
    with pytest.raises(CycleError, match="'p' -> 'q' -> 'p'|'q' -> 'p' -> 'q'"):
        RandomlyWiredBlocks(2, 2, 4, nx.DiGraph([("p", "q"), ("q", "p")]))
    with pytest.raises(EmptyGraphError):
        RandomlyWiredBlocks(2, 2, 4, nx.DiGraph())
    with pytest.raises(ValueError, match="The 'hidden' parameter of RandomlyWiredBlocks must be an int >= 1"):
        RandomlyWiredBlocks(2, 2, 0, nx.DiGraph([(0, 1)]))
    with pytest.raises(ValueError, match="networkx.DiGraph or a dagnet.Wiring"):
        RandomlyWiredBlocks(2, 2, 4, [(0, 1)])


# ----------------------------------------------------------------------------- rewire_pa_
def _strength_std(w: torch.Tensor) -> tuple[float, float]:
    return w.sum(0).std().item(), w.sum(1).std().item()


@pytest.mark.parametrize("dtype", [torch.float32, F64, torch.bfloat16])
def test_rewire_pa_keeps_values_in_place(dtype):
    w = (torch.rand(20, 30, generator=torch_generator(1), dtype=F64) * 2 - 1).to(dtype)
    values = torch.sort(w.flatten()).values.clone()
    ptr, original = w.data_ptr(), w.clone()
    out = rewire_pa_(w, seed=2)
    assert out is w and w.data_ptr() == ptr
    assert torch.equal(torch.sort(w.flatten()).values, values)  # same multiset, bit for bit
    assert not torch.equal(w, original)


def test_rewire_pa_is_deterministic_per_seed():
    base = torch.rand(16, 24, generator=torch_generator(3)) - 0.5
    a, b, c = base.clone(), base.clone(), base.clone()
    rewire_pa_(a, seed=4)
    rewire_pa_(b, seed=4)
    rewire_pa_(c, seed=5)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_rewire_pa_lowers_strength_spread():
    w = torch.randn(64, 128, generator=torch_generator(6), dtype=F64)
    col0, row0 = _strength_std(w)
    rewire_pa_(w, seed=7)
    col1, row1 = _strength_std(w)
    assert col1 < 0.5 * col0 and row1 < 0.5 * row0


def test_rewire_pa_second_pass_keeps_columns_and_first_pass_keeps_rows():
    # one row: pass 1 only permutes it; pass 2 sees one value per column and moves nothing
    w = torch.arange(10.0).reshape(1, 10)
    rewire_pa_(w, seed=8)
    assert sorted(w.flatten().tolist()) == list(range(10))
    # one column: pass 1 moves nothing; pass 2 permutes the column
    v = torch.arange(10.0).reshape(10, 1)
    rewire_pa_(v, seed=8)
    assert sorted(v.flatten().tolist()) == list(range(10))


def test_rewire_pa_on_parameters_views_and_bad_input():
    layer = nn.utils.skip_init(nn.Linear, 8, 4)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(4, 8, generator=torch_generator(9)))
    values = torch.sort(layer.weight.detach().flatten()).values
    rewire_pa_(layer.weight, seed=10)
    assert layer.weight.requires_grad
    assert torch.equal(torch.sort(layer.weight.detach().flatten()).values, values)
    big = torch.randn(6, 5, generator=torch_generator(11))
    view = big.T  # non-contiguous view: changed in place through the view
    rewire_pa_(view, seed=12)
    assert torch.equal(big, view.T)
    with pytest.raises(ValueError, match="must be a 2-D floating-point tensor"):
        rewire_pa_(torch.zeros(3), seed=0)
    with pytest.raises(ValueError, match="must be a 2-D floating-point tensor"):
        rewire_pa_(torch.zeros(3, 3, dtype=torch.int64), seed=0)


# ----------------------------------------------------------------------------- all modules
def test_neuron_layers_leave_the_global_generator_alone():
    state = torch.random.get_rng_state()
    tree = DendriticTree(2, 2, 2, seed=1)
    dal = DendriteActivatedLinear(3, 2, seed=1)
    act = ActiveDendrites(3, 4, 2, 2, 2, seed=1)
    rw = RandomlyWiredBlocks(3, 2, 4, erdos_renyi_dag(5, 0.5, seed=1), seed=1)
    tree(torch.ones(2, 8)).sum().backward()
    dal(torch.ones(2, 3)).sum().backward()
    act(torch.ones(2, 3), torch.ones(2)).sum().backward()
    rw(torch.ones(2, 3)).sum().backward()
    rewire_pa_(torch.ones(3, 3), seed=1)
    assert torch.equal(torch.random.get_rng_state(), state)


def test_seed_none_draws_and_stores_a_seed():
    a = DendriteActivatedLinear(3, 2)
    b = DendriteActivatedLinear(3, 2, seed=a.seed)
    assert isinstance(a.seed, int) and torch.equal(a.weight, b.weight)
