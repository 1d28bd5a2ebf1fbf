"""dagnet.save / dagnet.load of any model holding dagnet layers: built back without running code, or loaded into yours."""

from __future__ import annotations

import io
import os
import pickle
import warnings

import networkx as nx
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

import dagnet
from dagnet import DAGNetwork, SparseLinear
from dagnet.errors import DeadNodeWarning, FileFormatError
from dagnet.evolve import SET
from dagnet.fileio import read_checked
from dagnet.nn import Dropout, Population, sparse_mlp
from dagnet.serialization.tree import BUILDABLE
from strategies import Scaled, build_case, dag_cases, max_rows, swish


def _round_trip(model: nn.Module, tmp_path, **kw) -> nn.Module:
    path = tmp_path / "model.pt"
    dagnet.save(model, path)
    return dagnet.load(path, **kw)


def _same_state(a: nn.Module, b: nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for k in sa:
        assert sa[k].dtype == sb[k].dtype and torch.equal(sa[k], sb[k]), k


def _same_model(back: nn.Module, model: nn.Module, x: torch.Tensor) -> None:
    assert [type(m) for m in back.modules()] == [type(m) for m in model.modules()]
    assert [m.training for m in back.modules()] == [m.training for m in model.modules()]
    assert repr(back) == repr(model)
    _same_state(back, model)
    assert torch.equal(back(x), model(x))


class Net(nn.Module):
    """A model of one's own: a CNN with a sparse head, and a DAGNetwork nested in a dict."""

    def __init__(self, seed=0):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2))
        self.head = SparseLinear(4 * 3 * 3, 10, density=0.3, seed=seed)
        self.extra = nn.ModuleDict({"dag": sparse_mlp([10, 6, 3], epsilon=2, seed=seed)})

    def forward(self, x):
        return self.extra["dag"](self.head(self.features(x).flatten(1)))


def _trained(model: nn.Module, x: torch.Tensor, steps: int = 3) -> nn.Module:
    """A few Adam steps with SET rewirings between them: values and topologies far from a fresh build."""
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    rule = SET(zeta=0.3, seed=1)
    for _ in range(steps):
        opt.zero_grad()
        model(x).square().mean().backward()
        opt.step()
        rule.step(model, optimizer=opt)
    return model


# ---------------------------------------------------------------- models dagnet builds back by itself
def test_a_trained_rewired_sparse_mlp_comes_back_identical(tmp_path):
    x = torch.randn(5, 8)
    mlp = _trained(sparse_mlp([8, 12, 6, 3], epsilon=3, activation="all_relu", dropout=0.3, seed=0), x)
    back = _round_trip(mlp, tmp_path)
    assert isinstance(back, nn.Sequential) and isinstance(back[0], SparseLinear) and isinstance(back[2], Dropout)
    _same_model(back.eval(), mlp.eval(), x)
    mlp.train(), back.train()
    torch.manual_seed(0)
    assert torch.equal(back(x), mlp(x))  # dropout masks from the saved stream
    assert torch.equal(back[2].rng_state, mlp[2].rng_state)
    for a, b in zip(back, mlp):
        if isinstance(a, SparseLinear):
            assert np.array_equal(a.growth_space()[0], b.growth_space()[0])
    SET(zeta=0.3, seed=2).step(back)  # still rewires as a SparseLinear
    assert back[0].num_edges == mlp[0].num_edges


def test_a_cnn_of_torch_layers_with_a_sparse_head_in_float64(tmp_path):
    cnn = nn.Sequential(
        nn.Conv2d(1, 3, 3, padding=1, bias=False, dtype=torch.float64),
        nn.BatchNorm2d(3, momentum=0.2, dtype=torch.float64),
        nn.LeakyReLU(0.1),
        nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Dropout(0.25),
        SparseLinear(3 * 3 * 3, 4, density=0.4, seed=3, dtype=torch.float64),
    )
    x = torch.randn(6, 1, 6, 6, dtype=torch.float64)
    cnn(x)  # running statistics move
    cnn[1].eval()
    back = _round_trip(cnn, tmp_path)
    assert back[0].weight.dtype == torch.float64 and back[0].bias is None
    assert back.training and not back[1].training
    _same_model(back.eval(), cnn.eval(), x)


def test_populations_and_networks_nested_in_containers(tmp_path):
    pop = Population([DAGNetwork(nx_graph(k), seed=k, activation="tanh") for k in range(3)], seed=0)
    model = nn.ModuleDict(
        {
            "population": pop,
            "stack": nn.ModuleList([DAGNetwork(nx_graph(0), seed=1, activation=Scaled()), nn.Identity()]),
        }
    )
    SET(zeta=0.5, seed=0).step(pop)
    back = _round_trip(model, tmp_path, custom_objects=[Scaled])
    assert isinstance(back["population"], Population) and len(back["population"]) == 3
    x = torch.randn(4, 2)
    assert torch.equal(back["population"](x), pop(x)) and torch.equal(back["stack"][0](x), model["stack"][0](x))
    _same_state(back, model)


def nx_graph(k: int) -> nx.DiGraph:
    g = nx.DiGraph([(0, 2), (1, 2), (2, 3), (0, 3)])
    if k % 2:
        g.add_edge(1, 3)
    return g


def test_every_buildable_torch_layer_comes_back_with_its_arguments(tmp_path):
    layers = [
        nn.Linear(3, 2, bias=False),
        nn.Bilinear(2, 3, 4),
        nn.Conv1d(2, 4, 3, stride=2, padding=1, groups=2, padding_mode="reflect"),
        nn.Conv2d(2, 2, (3, 1), padding="same"),
        nn.ConvTranspose2d(2, 3, 3, stride=2, output_padding=1),
        nn.BatchNorm1d(3, eps=1e-3, affine=False, track_running_stats=False),
        nn.LayerNorm((2, 3), elementwise_affine=True, bias=False),
        nn.GroupNorm(2, 4, eps=1e-4),
        nn.InstanceNorm2d(3, affine=True),
        nn.Embedding(10, 3, padding_idx=0, max_norm=2.0),
        nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True),
        nn.AdaptiveAvgPool2d((2, 3)),
        nn.Unflatten(1, (2, 3)),
        nn.Flatten(0, -1),
        nn.Dropout2d(0.3),
        nn.Softmax(dim=-1),
        nn.PReLU(3, init=0.5),
        nn.ELU(alpha=0.5),
        nn.Hardtanh(-2.0, 3.0),
        nn.Threshold(0.1, 20.0),
        nn.GELU(approximate="tanh"),
        dagnet.activations.ADA(0.3, trainable=True, dtype=torch.float64),
        dagnet.activations.IsotropicTanh(2.0, trainable=True),
        dagnet.activations.AllReLU(3, slope=0.4),
        Dropout(0.2, seed=7),
    ]
    model = nn.Sequential(*layers)
    assert all(f"{type(m).__module__}:{type(m).__qualname__}" in BUILDABLE for m in layers)
    back = _round_trip(model, tmp_path)
    for a, b in zip(back, model):
        assert type(a) is type(b) and repr(a) == repr(b)
        public = [k for k in vars(b) if not k.startswith("_")]
        assert {k: getattr(a, k) for k in public} == {k: getattr(b, k) for k in public}
    _same_state(back, model)


# ---------------------------------------------------------------- models of your own: into=
def test_a_model_of_your_own_is_loaded_into_an_instance_with_the_saved_topologies(tmp_path):
    x = torch.randn(4, 1, 8, 8)
    net = _trained(Net(seed=0), x)
    net.eval()
    path = tmp_path / "net.pt"
    dagnet.save(net, path)
    with pytest.raises(FileFormatError, match=r"the model of class '.*test_save_modules:Net'.*into=model"):
        dagnet.load(path)
    other = Net(seed=5)  # other connections, other numbers of them
    assert other.head.num_edges != net.head.num_edges or not torch.equal(other.head.in_src, net.head.in_src)
    assert dagnet.load(path, into=other) is other
    assert not other.training and other.head.num_edges == net.head.num_edges
    _same_state(other, net)
    assert torch.equal(other(x), net(x))


def test_a_model_that_does_not_fit_is_refused_naming_the_module(tmp_path):
    path = tmp_path / "net.pt"
    dagnet.save(Net(seed=0), path)
    wrong = Net()
    wrong.features[1] = nn.LayerNorm(4)
    with pytest.raises(ValueError, match=r"the module 'features.1' is a torch.nn.*LayerNorm.*BatchNorm2d"):
        dagnet.load(path, into=wrong)
    wrong = Net()
    del wrong.extra["dag"]
    with pytest.raises(ValueError, match=r"the model has no module 'extra.dag'"):
        dagnet.load(path, into=wrong)
    wrong = Net()
    wrong.head = SparseLinear(4 * 3 * 3, 11, density=0.3, seed=0)
    before = wrong.head.state_dict()
    with pytest.raises(ValueError, match=r"(?s)Cannot load .* into the model.*'head'"):
        dagnet.load(path, into=wrong)
    _same_state_dict(wrong.head.state_dict(), before)
    with pytest.raises(TypeError, match="'into' parameter"):
        dagnet.load(path, into={"head": 1})


def test_crafted_layer_arguments_cannot_allocate_more_than_the_file_holds(tmp_path):
    from dagnet.fileio import write_checked

    path = tmp_path / "m.pt"
    dagnet.save(nn.Sequential(nn.Linear(3, 2), nn.ReLU()), path)
    payload = read_checked(path, "dagnet.DAGNetwork", 3, "a model")
    payload["module"]["children"]["0"]["args"].update(in_features=10**6, out_features=10**6)  # 4 TB
    write_checked(path, payload)
    with pytest.raises(FileFormatError, match=r"state_dict\['0.weight'\] is not the \(1000000, 1000000\) tensor"):
        dagnet.load(path)
    payload["module"]["children"]["0"]["args"] = {"in_features": -1, "out_features": 2, "bias": True}
    write_checked(path, payload)
    with pytest.raises(FileFormatError, match=r"the module '0' cannot be built as Linear"):
        dagnet.load(path)


def test_a_local_class_and_a_layer_saved_without_arguments_are_loaded_into_your_model(tmp_path):
    class Local(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(SparseLinear(6, 4, density=0.5), nn.Tanh())

        def forward(self, x):
            return self.body(x)

    from dagnet.fileio import write_checked

    path = tmp_path / "m.pt"
    model = Local()
    dagnet.save(model, path)
    with pytest.raises(FileFormatError, match=r"class '.*<locals>.Local'.*into=model"):
        dagnet.load(path)
    x = torch.randn(3, 6)
    assert torch.equal(dagnet.load(path, into=Local())(x), model(x))
    payload = read_checked(path, "dagnet.DAGNetwork", 3, "a model")
    payload["module"] = payload["module"]["children"]["body"]
    payload["module"]["children"]["1"]["args"] = None
    payload["state_dict"] = {k.removeprefix("body."): v for k, v in payload["state_dict"].items()}
    write_checked(path, payload)
    with pytest.raises(FileFormatError, match=r"the module '1', a Tanh, without its constructor arguments"):
        dagnet.load(path)
    assert torch.equal(dagnet.load(path, into=model.body)(x), model(x))


def _same_state_dict(a: dict, b: dict) -> None:
    assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)


# ---------------------------------------------------------------- the file
def _plain(x) -> bool:
    if isinstance(x, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in x.items())
    if isinstance(x, (list, tuple)):
        return all(_plain(v) for v in x)
    return x is None or isinstance(x, (bool, int, float, str, torch.Tensor))


def test_the_file_is_plain_data_and_tensors_read_with_weights_only(tmp_path):
    path = tmp_path / "net.pt"
    dagnet.save(Net(), path)
    payload = torch.load(path, weights_only=True)
    assert payload["version"] == 3 and _plain(payload)
    assert read_checked(path, "dagnet.DAGNetwork", 3, "a model")["module"]["class"].endswith("test_save_modules:Net")


def test_the_state_dict_holds_csr_topologies_in_the_smallest_integer_type():
    layer = SparseLinear(300, 200, density=0.2, seed=0)
    state = layer.state_dict()
    assert set(state) == {"weight", "bias", "node_index", "in_ptr", "in_src"}  # the rest is rebuilt
    assert state["in_src"].dtype == state["in_ptr"].dtype == state["node_index"].dtype == torch.int16
    assert state["in_ptr"].numel() == 501 and state["in_src"].numel() == layer.num_edges
    assert torch.equal(state["in_src"].long(), layer.in_src.long())
    dense = SparseLinear(300, 200, density=0.8, seed=0).state_dict()  # edges beyond int16, positions not
    assert dense["in_ptr"].dtype == torch.int32 and dense["in_src"].dtype == torch.int16
    wide = SparseLinear(40_000, 1, density=1e-3, seed=0).state_dict()  # positions beyond int16
    assert wide["in_src"].dtype == torch.int32 and wide["node_index"].dtype == torch.int32


def test_state_dicts_round_trip_into_other_topologies_old_full_ones_too():
    x = torch.randn(3, 30)
    layer = SparseLinear(30, 20, density=0.3, seed=0)
    SET(zeta=0.3, seed=0).step(layer)
    fresh = SparseLinear(30, 20, density=0.1, seed=9)
    fresh.load_state_dict(layer.state_dict())
    assert torch.equal(fresh(x), layer(x)) and torch.equal(fresh.out_edge, layer.out_edge)
    from dagnet.nn.dag_network import _INDEX_BUFFERS

    old = {**layer.state_dict(), **{k: getattr(layer, k).clone() for k in _INDEX_BUFFERS}}  # every buffer
    fresh = SparseLinear(30, 20, density=0.1, seed=9)
    fresh.load_state_dict(old)
    assert torch.equal(fresh(x), layer(x))
    assigned = SparseLinear(30, 20, density=0.1, seed=9)
    assigned.load_state_dict(layer.state_dict(), assign=True)
    assert assigned.in_src.dtype == layer.in_src.dtype and assigned.node_index.dtype == torch.int64
    assert torch.equal(assigned(x), layer(x))


@pytest.mark.parametrize("size", [(1024, 1024), (784, 300)])
def test_a_saved_sparse_layer_is_smaller_than_the_dense_one_up_to_half_density(tmp_path, size):
    n_in, n_out = size
    dense = tmp_path / "dense.pt"
    torch.save(nn.Linear(n_in, n_out).state_dict(), dense)
    for density in (0.4, 0.5):
        sparse = tmp_path / f"sparse{density}.pt"
        dagnet.save(SparseLinear(n_in, n_out, density=density, seed=0), sparse)
        assert os.path.getsize(sparse) < os.path.getsize(dense), density


# ---------------------------------------------------------------- any network, against the saved one
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=dag_cases(), rewire=st.booleans())
def test_any_network_in_a_sequential_comes_back_identical(tmp_path_factory, case, rewire):
    net = build_case(case, torch.float64, None)
    if rewire and net.num_edges:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeadNodeWarning)
            net.rewire_(remove=net.evolvable_edges() & (np.arange(net.num_edges) % 2 == 0))
    model = nn.Sequential(net, nn.Tanh())
    path = tmp_path_factory.mktemp("any") / "m.pt"
    dagnet.save(model, path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeadNodeWarning)
        back = dagnet.load(path, custom_objects=[swish, Scaled, max_rows])
    x = torch.randn(case["batch"], net.in_features, dtype=torch.float64)
    _same_model(back, model, x)
    assert back[0].levels() == net.levels() and back[0].node_labels == net.node_labels


# ---------------------------------------------------------------- pickling
def test_whole_models_of_your_own_pickle_too():
    net = Net()
    net.eval()
    x = torch.randn(2, 1, 8, 8)
    want = net(x)
    buf = io.BytesIO()
    torch.save(net, buf)
    buf.seek(0)
    assert torch.equal(torch.load(buf, weights_only=False)(x), want)
    assert torch.equal(pickle.loads(pickle.dumps(net))(x), want)
