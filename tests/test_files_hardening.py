"""Loading files runs no code, and a corrupt, truncated or foreign file is refused, never half-loaded."""

from __future__ import annotations

import os
import pickle
import stat
import sys
import zipfile
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
import torch

import dagnet
from dagnet import DAGNetwork
from dagnet.activations import ADA
from dagnet.activations.functional import ada
from dagnet.errors import DagnetError, FileFormatError
from dagnet.fileio import atomic_write, read_checked, write_checked
from dagnet.nn.dag_network import _INDEX_BUFFERS, _TOPOLOGY_KEYS
from dagnet.serialization.network import record
from dagnet.train import load_checkpoint, save_checkpoint

NET_FORMAT, NET_VERSION = "dagnet.DAGNetwork", 3


def _graph() -> nx.DiGraph:
    """Small, but with every kind of part: a module activation, a multi-branch node, given values."""
    g = nx.DiGraph()
    g.add_edge("x1", "v", branch=0, weight=0.5)
    g.add_edge("x2", "v", branch=1, weight=-1.0)
    g.add_edge("x3", "h")
    g.add_edge("x1", "h")
    g.add_edge("h", "y")
    g.add_edge("v", "y")
    g.add_edge("x2", "y")
    g.add_edge("x3", "y2")
    g.add_edge("h", "y2")
    g.nodes["v"]["combine"] = "pynada"
    g.nodes["h"]["activation"] = ADA()
    return g


def _net() -> DAGNetwork:
    net = DAGNetwork(_graph(), seed=0, dtype=torch.float64)
    k = [(net.node_labels[u], net.node_labels[v]) for u, v in zip(*net.edge_endpoints())].index(("x2", "y"))
    net.rewire_(
        remove=[k],
        add_source=[net.node_labels.index("x1")],
        add_target=[net.node_labels.index("y2")],
        add_weight=[0.25],
    )
    return net


X = torch.randn(4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))


def _same_state(a: dict, b: dict) -> bool:
    return list(a) == list(b) and all(a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]) for k in a)


def _computes_the_same(loaded: DAGNetwork, net: DAGNetwork) -> None:
    assert type(loaded) is type(net)
    assert _same_state(loaded.state_dict(), net.state_dict())
    x = X.clone().requires_grad_()
    out = loaded(x)
    assert torch.equal(out, net(X))
    out.sum().backward()  # the backward pass reads every index buffer
    assert torch.isfinite(x.grad).all()


def _same(a, b) -> bool:
    """Deep equality of checkpoint content: same types, keys in order, tensors by dtype and value."""
    if type(a) is not type(b):
        return False
    if isinstance(a, torch.Tensor):
        return a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b or (isinstance(a, float) and np.isnan(a) and np.isnan(b))


def _saved(tmp_path, net=None):
    path = tmp_path / "net.pt"
    dagnet.save(_net() if net is None else net, path)
    return path


def _payload(path) -> dict:
    return read_checked(path, NET_FORMAT, NET_VERSION, "a network")


def _record(payload: dict) -> dict:
    """The record of the network a file holds at its root."""
    return payload["module"]["network"]


def _old_payload(net: DAGNetwork) -> dict:
    """What dagnet.save wrote before files held models (version 2): edges in the record, every index buffer."""
    rec = record(net, "the network")
    del rec["units"]
    wiring = net.to_wiring()
    state = {**net.state_dict(), **{k: getattr(net, k).clone() for k in _INDEX_BUFFERS}}
    return {
        "format": NET_FORMAT,
        "version": 2,
        **rec,
        "source": torch.from_numpy(wiring.source),
        "target": torch.from_numpy(wiring.target),
        "branch": None if wiring.branch is None else torch.from_numpy(wiring.branch),
        "population": None,
        "state_dict": {k: state[k].long() if k in _TOPOLOGY_KEYS else state[k] for k in state},
    }


def _saved_old(tmp_path, net=None):
    path = tmp_path / "old.pt"
    write_checked(path, _old_payload(_net() if net is None else net))
    return path


# ---------------------------------------------------------------- loading runs no code
def test_a_reference_to_os_abort_is_refused_without_calling_it(tmp_path, monkeypatch):
    called = []
    monkeypatch.setattr(os, "abort", lambda *a: called.append(a))
    path = _saved(tmp_path)
    for where in ("config", "node", "module"):
        payload = _payload(path)
        rec = _record(payload)
        if where == "config":
            rec["config"]["activation"] = {"callable": "os:abort"}
        elif where == "node":
            rec["node_activation"][rec["labels"].index("y")] = {"callable": "os:abort"}
        else:
            rec["config"]["output_activation"] = {"module": "os:abort", "index": None}
        write_checked(path, payload)  # a crafted file: its checksum is right
        with pytest.raises(FileFormatError, match=r"'os:abort'.*custom_objects=\{'os:abort': abort\}") as info:
            dagnet.load(path)
        assert info.value.path == path and str(path) in str(info.value)
    assert called == []


def test_a_module_in_the_current_folder_is_never_imported(tmp_path, monkeypatch):
    name = "dagnet_test_sentinel_module"
    marker = tmp_path / "imported"
    (tmp_path / f"{name}.py").write_text(
        f"open({str(marker)!r}, 'w').close()\n\ndef act(z):\n    return z\n\nclass Act:\n    pass\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))  # importing it would succeed: loading must not try
    path = _saved(tmp_path)
    for ref in ({"callable": f"{name}:act"}, {"module": f"{name}:Act", "index": 0}):
        payload = _payload(path)
        _record(payload)["config"]["activation"] = ref
        write_checked(path, payload)
        with pytest.raises(FileFormatError, match=f"'{name}:A?a?ct'.*not one of dagnet's own"):
            dagnet.load(path)
    assert name not in sys.modules and not marker.exists()


def swish(z):
    return z * torch.sigmoid(z)


class Scaled(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.alpha = torch.nn.Parameter(torch.tensor(0.5, dtype=torch.float64))

    def forward(self, z):
        return self.alpha * torch.tanh(z)


def test_activations_of_your_own_are_passed_explicitly(tmp_path):
    g = _graph()
    g.nodes["y"]["activation"] = swish
    net = DAGNetwork(g, seed=1, activation=Scaled(), dtype=torch.float64)
    path = _saved(tmp_path, net)
    with pytest.raises(FileFormatError, match="custom_objects=") as info:
        dagnet.load(path)
    assert f"{__name__}:" in str(info.value)
    _computes_the_same(dagnet.load(path, custom_objects=[swish, Scaled]), net)
    names = {f"{__name__}:swish": swish, f"{__name__}:Scaled": Scaled}
    _computes_the_same(dagnet.load(path, custom_objects=names), net)
    with pytest.raises(ValueError, match="'module:qualname'"):
        dagnet.load(path, custom_objects={"swish": swish})
    with pytest.raises(FileFormatError, match="nn.Module class"):  # a function where a class is needed
        dagnet.load(path, custom_objects={f"{__name__}:swish": swish, f"{__name__}:Scaled": swish})


def test_dagnet_and_torch_activations_load_without_custom_objects(tmp_path):
    g = _graph()
    g.nodes["y"]["activation"] = ada
    g.nodes["y2"]["activation"] = torch.nn.GELU()
    net = DAGNetwork(g, seed=2, activation=torch.relu, dtype=torch.float64)
    _computes_the_same(dagnet.load(_saved(tmp_path, net)), net)


# ---------------------------------------------------------------- files that are not a network
def _foreign_files(folder):
    empty = folder / "empty.pt"
    empty.write_bytes(b"")
    text = folder / "text.pt"
    text.write_text("hello, I am a text file\n")
    pick = folder / "pickle.pt"
    pick.write_bytes(pickle.dumps([1, 2, {"a": 3}]))
    zipped = folder / "other.zip"
    with zipfile.ZipFile(zipped, "w") as z:
        z.writestr("hello.txt", "not torch")
    other = folder / "other.pt"
    torch.save({"hello": 1}, other)
    tensor = folder / "tensor.pt"
    torch.save(torch.ones(3), tensor)
    return [empty, text, pick, zipped, other, tensor]


@pytest.mark.parametrize("loader", [dagnet.load, load_checkpoint])
def test_empty_truncated_and_foreign_files_raise_one_error_naming_the_path(tmp_path, loader):
    net_file = _saved(tmp_path)
    ckpt = tmp_path / "checkpoint.pt"
    save_checkpoint(ckpt, {"epoch": 1, "model": _net().state_dict()})
    own = net_file if loader is dagnet.load else ckpt
    files = _foreign_files(tmp_path)
    files.append(ckpt if loader is dagnet.load else net_file)  # the other kind of dagnet file
    for k, n in enumerate((1, 10, 100, len(own.read_bytes()) // 2, len(own.read_bytes()) - 1)):
        cut = tmp_path / f"truncated{k}.pt"
        cut.write_bytes(own.read_bytes()[:n])
        files.append(cut)
    for path in files:
        with pytest.raises(FileFormatError) as info:
            loader(path)
        err = info.value
        assert isinstance(err, DagnetError) and isinstance(err, ValueError)
        assert err.path == path and str(path) in str(err), path
    with pytest.raises(FileNotFoundError):  # a missing file is not a format error
        loader(tmp_path / "missing.pt")


def test_a_file_that_does_not_match_its_checksum_is_refused(tmp_path):
    path = _saved(tmp_path)
    payload = torch.load(path, weights_only=True)
    payload["state_dict"]["bias"][0] += 6115.5  # one changed value, checksum left as it was
    torch.save(payload, path)
    with pytest.raises(FileFormatError, match="does not match its checksum"):
        dagnet.load(path)
    del payload["checksum"]
    torch.save(payload, path)
    with pytest.raises(FileFormatError, match="does not match its checksum"):
        dagnet.load(path)

    ckpt = tmp_path / "c.pt"
    save_checkpoint(ckpt, {"epoch": 3})
    state = torch.load(ckpt, weights_only=True)
    state["epoch"] = 4
    torch.save(state, ckpt)
    with pytest.raises(FileFormatError, match="does not match its checksum"):
        load_checkpoint(ckpt)


def test_a_file_from_a_newer_dagnet_is_refused(tmp_path):
    path = _saved(tmp_path)
    payload = _payload(path)
    payload["version"] = NET_VERSION + 1
    write_checked(path, payload)
    with pytest.raises(FileFormatError, match="newer dagnet"):
        dagnet.load(path)


def test_files_of_version_2_load_as_they_did(tmp_path):
    net = _net()
    _computes_the_same(dagnet.load(_saved_old(tmp_path, net)), net)
    pop = dagnet.nn.Population([_graph(), _graph()], seed=0, dtype=torch.float64)
    payload = _old_payload(pop.network)
    payload["class"], payload["population"] = (
        "Population",
        {
            "member_inputs": [inp for inp, _ in pop._member_io],
            "member_outputs": [out for _, out in pop._member_io],
            "seeds": pop._member_seeds,
        },
    )
    write_checked(tmp_path / "pop.pt", payload)
    back = dagnet.load(tmp_path / "pop.pt")
    assert isinstance(back, dagnet.nn.Population) and torch.equal(back(X), pop(X))
    into = _net()
    assert dagnet.load(_saved_old(tmp_path, net), into=into) is into
    _computes_the_same(into, net)


def test_files_of_version_1_load_with_every_check_but_the_checksum(tmp_path):
    net = _net()
    path = _saved_old(tmp_path, net)
    payload = torch.load(path, weights_only=True)
    del payload["checksum"]
    payload["version"] = 1
    torch.save(payload, path)
    _computes_the_same(dagnet.load(path), net)
    payload["state_dict"]["in_src"] = payload["state_dict"]["in_src"].clone().fill_(10**6)
    torch.save(payload, path)
    with pytest.raises(FileFormatError, match="in_src"):
        dagnet.load(path)
    ckpt = tmp_path / "old.pt"
    torch.save({"format": "dagnet.train.checkpoint", "version": 1, "epoch": 2}, ckpt)
    assert load_checkpoint(ckpt)["epoch"] == 2


# ---------------------------------------------------------------- crafted content, right checksum
def _corrupt(t: torch.Tensor, how: str) -> torch.Tensor:
    t = t.clone().long()
    if how == "too large":
        t[0] = 10**6
    elif how == "negative":
        t[-1] = -5
    else:  # "shorter"
        t = t[:-1]
    return t


@pytest.mark.parametrize("how", ["too large", "negative", "shorter"])
@pytest.mark.parametrize("name", _TOPOLOGY_KEYS)
def test_topologies_out_of_range_are_refused(tmp_path, name, how):
    net = _net()
    path = _saved(tmp_path, net)
    payload = _payload(path)
    payload["state_dict"][name] = _corrupt(payload["state_dict"][name], how)
    write_checked(path, payload)
    with pytest.raises(FileFormatError, match=name):
        dagnet.load(path)
    into = _net()
    before = {k: v.clone() for k, v in into.state_dict().items()}
    with pytest.raises(ValueError, match=f"(?s)Cannot load .* into the model.*'{name}'"):
        dagnet.load(path, into=into)
    assert _same_state(into.state_dict(), before)


@pytest.mark.parametrize("how", ["too large", "negative", "shorter"])
@pytest.mark.parametrize("name", _INDEX_BUFFERS)
def test_index_buffers_of_older_files_out_of_range_are_refused(tmp_path, name, how):
    net = _net()
    payload = _old_payload(net)
    payload["state_dict"][name] = _corrupt(payload["state_dict"][name], how)
    path = tmp_path / "old.pt"
    write_checked(path, payload)
    with pytest.raises(FileFormatError, match=name):
        dagnet.load(path)

    # the same state_dict, by hand: refused, and the network is left as it was
    fresh = _net()
    before = {k: v.clone() for k, v in fresh.state_dict().items()}
    with pytest.raises(RuntimeError, match=f"Cannot load the state_dict.*'{name}'"):
        fresh.load_state_dict(payload["state_dict"])
    assert _same_state(fresh.state_dict(), before)
    _computes_the_same(fresh, net)


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda p: p["source"].__setitem__(0, 99), "source holds node numbers"),
        (lambda p: p["target"].__setitem__(0, -1), "target holds node numbers"),
        (lambda p: p.__setitem__("target", p["target"][:-1]), "same length"),
        (lambda p: p.__setitem__("source", p["source"].double()), "integer tensors"),
        (lambda p: p["labels"].__setitem__(1, p["labels"][0]), "a label twice"),
        (lambda p: p["labels"].__setitem__(1, {"a": 1}), "labels must be"),
        (lambda p: p.__setitem__("num_nodes", 10**9), "labels must be a list of 1000000000"),
        (lambda p: p.__setitem__("inputs", ["nowhere"]), "cannot be built"),
        (lambda p: p.__setitem__("outputs", []), "outputs must be"),
        (lambda p: p.__setitem__("dtype", "load"), "dtype is 'load'"),
        (lambda p: p.__setitem__("dtype", "float32"), "state_dict\\['weight'\\] is torch.float64"),
        (lambda p: p["config"].__setitem__("__import__", "os"), "config"),
        (lambda p: p["config"].__setitem__("layering", "sideways"), "cannot be built"),
        (lambda p: p["config"].__setitem__("activation", "no_such_name"), "Unknown activation 'no_such_name'"),
        (lambda p: p["combine"].__setitem__(0, {"callable": "builtins:eval"}), "'builtins:eval'"),
        (lambda p: p.__setitem__("branch", -p["branch"] - 1), "branch must be"),
        (lambda p: p["state_dict"]["weight"].__setitem__(0, float("nan")), "NaN or infinite"),
        (lambda p: p["state_dict"]["bias"].__setitem__(0, float("inf")), "NaN or infinite"),
        (lambda p: p["state_dict"].__setitem__("weight", p["state_dict"]["weight"][:-1]), "weight"),
        (lambda p: p["state_dict"].pop("bias"), "keys \\['bias'\\] differ"),
        (lambda p: p["state_dict"].__setitem__("extra", torch.ones(1)), "keys \\['extra'\\] differ"),
        (lambda p: p["state_dict"].__setitem__("in_src", p["state_dict"]["in_src"].flip(0)), "in_src"),
        (lambda p: p.pop("labels"), "it has no 'labels'"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_inconsistent_content_of_older_files_is_refused_by_name(tmp_path, edit, match):
    payload = _old_payload(_net())
    path = tmp_path / "old.pt"
    edit(payload)
    write_checked(path, payload)
    with pytest.raises(FileFormatError, match=match) as info:
        dagnet.load(path)
    assert info.value.path == path


def _rec_edit(field, value):
    return lambda p: _record(p).__setitem__(field, value)


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda p: _record(p)["labels"].__setitem__(1, _record(p)["labels"][0]), "a label twice"),
        (lambda p: _record(p)["labels"].__setitem__(1, {"a": 1}), "labels must be"),
        (_rec_edit("num_nodes", 10**9), "num_nodes is 1000000000, more than the 9 positions"),
        (_rec_edit("num_nodes", 6), "labels must be a list of 6"),
        (_rec_edit("labels", {"range": [0, "x"]}), "labels must be"),
        (_rec_edit("labels", {"range": [0, 10**12]}), "labels must be"),
        (_rec_edit("inputs", {"range": [0, 3]}), "cannot be built"),
        (_rec_edit("inputs", ["nowhere"]), "cannot be built"),
        (_rec_edit("outputs", []), "outputs must be"),
        (_rec_edit("dtype", "load"), "dtype is 'load'"),
        (_rec_edit("dtype", "float32"), "state_dict\\['weight'\\] is torch.float64"),
        (lambda p: _record(p)["config"].__setitem__("__import__", "os"), "config"),
        (lambda p: _record(p)["config"].__setitem__("layering", "sideways"), "cannot be built"),
        (lambda p: _record(p)["config"].__setitem__("activation", "no_such_name"), "Unknown activation 'no_such_name'"),
        (lambda p: _record(p)["combine"].__setitem__(0, {"callable": "builtins:eval"}), "'builtins:eval'"),
        (lambda p: _record(p)["units"][1].__setitem__(0, -1), "units must be"),
        (lambda p: _record(p)["units"][0].pop(), "units must be"),
        (lambda p: _record(p).pop("labels"), "it has no 'labels'"),
        (lambda p: p["state_dict"]["weight"].__setitem__(0, float("nan")), "NaN or infinite"),
        (lambda p: p["state_dict"]["bias"].__setitem__(0, float("inf")), "NaN or infinite"),
        (lambda p: p["state_dict"].__setitem__("weight", p["state_dict"]["weight"][:-1]), "weight"),
        (lambda p: p["state_dict"].pop("bias"), "keys \\['bias'\\] differ"),
        (lambda p: p["state_dict"].__setitem__("extra", torch.ones(1)), "keys \\['extra'\\] differ"),
        (lambda p: p["state_dict"].__setitem__("in_src", p["state_dict"]["in_src"].flip(0)), "in_src"),
        (lambda p: p["state_dict"].__setitem__("in_ptr", p["state_dict"]["in_ptr"].double()), "in_ptr"),
        (lambda p: p["module"].__setitem__("class", "os:system"), "'os:system', which dagnet.load does not build"),
        (lambda p: p["module"].__setitem__("training", "yes"), "no training flag"),
        (lambda p: p.pop("module"), "the model has no class"),
        (lambda p: p.__setitem__("state_dict", [1]), "state_dict must map names to dense tensors"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_inconsistent_content_is_refused_by_name(tmp_path, edit, match):
    path = _saved(tmp_path)
    payload = _payload(path)
    edit(payload)
    write_checked(path, payload)
    with pytest.raises(FileFormatError, match=match) as info:
        dagnet.load(path)
    assert info.value.path == path


def test_save_refuses_values_that_load_would_refuse(tmp_path):
    net = _net()
    with torch.no_grad():
        net.weight[1] = float("nan")
    with pytest.raises(ValueError, match="'weight' holds NaN"):
        dagnet.save(net, tmp_path / "n.pt")
    assert not (tmp_path / "n.pt").exists()


# ---------------------------------------------------------------- permissions
@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_files_are_written_with_the_users_umask(tmp_path):
    old = os.umask(0o027)
    try:
        dagnet.save(_net(), tmp_path / "n.pt")
        save_checkpoint(tmp_path / "c.pt", {"epoch": 1})
        atomic_write(tmp_path / "a.txt", lambda tmp: Path(tmp).write_text("x"))
        for name in ("n.pt", "c.pt", "a.txt"):
            assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o640, name
        os.chmod(tmp_path / "c.pt", 0o600)  # a file replaced keeps its permissions, as with open()
        save_checkpoint(tmp_path / "c.pt", {"epoch": 2})
        assert stat.S_IMODE(os.stat(tmp_path / "c.pt").st_mode) == 0o600
    finally:
        os.umask(old)
    assert sorted(os.listdir(tmp_path)) == ["a.txt", "c.pt", "n.pt"]  # no temporary file left


# ---------------------------------------------------------------- fuzzing
def _damaged(data: bytes, rng: np.random.Generator, cases: int):
    """``cases`` copies of ``data``: three in four with one bit flipped, one in four truncated."""
    for k in range(cases):
        b = bytearray(data)
        if k % 4 == 3:
            b = b[: int(rng.integers(len(b)))]
        else:
            b[int(rng.integers(len(b)))] ^= 1 << int(rng.integers(8))
        yield k, bytes(b)


def test_fuzz_damaged_networks_load_exactly_or_raise(tmp_path):
    net = _net()
    data = _saved(tmp_path, net).read_bytes()
    path = tmp_path / "damaged.pt"
    outcomes = {"refused": 0, "identical": 0}
    for k, damaged in _damaged(data, np.random.default_rng(20240611), 300):
        path.write_bytes(damaged)
        try:
            loaded = dagnet.load(path)
        except FileFormatError as e:
            assert e.path == path, k
            outcomes["refused"] += 1
            continue
        _computes_the_same(loaded, net)
        outcomes["identical"] += 1
    assert outcomes["refused"] > 150 and outcomes["identical"] > 0 and sum(outcomes.values()) == 300, outcomes


def test_fuzz_crafted_topologies_with_a_right_checksum_load_what_they_say_or_raise(tmp_path):
    """The topology is the file's only record of the edges: a crafted one is refused, or loads as it says."""
    net = _net()
    path = _saved(tmp_path, net)
    rng = np.random.default_rng(12)
    outcomes = {"refused": 0, "loaded": 0}
    for _k in range(200):
        crafted = _payload(path)
        name = _TOPOLOGY_KEYS[int(rng.integers(len(_TOPOLOGY_KEYS)))]
        t = crafted["state_dict"][name].clone().long()
        t[int(rng.integers(t.numel()))] = int(rng.integers(-3, 3 * t.numel() + 3))
        crafted["state_dict"][name] = t
        write_checked(path, crafted)
        try:
            loaded = dagnet.load(path)
        except FileFormatError:
            outcomes["refused"] += 1
            continue
        state = loaded.state_dict()
        assert all(torch.equal(state[k].long(), crafted["state_dict"][k].long()) for k in state)
        rebuilt = DAGNetwork(loaded.to_wiring(), inputs=loaded.inputs, outputs=loaded.outputs, dtype=torch.float64)
        x = X.clone().requires_grad_()
        out = loaded(x)
        assert torch.allclose(out, rebuilt(X), rtol=1e-12, atol=1e-12)
        out.sum().backward()
        assert torch.isfinite(x.grad).all()
        outcomes["loaded"] += 1
    assert outcomes["refused"] > 100 and sum(outcomes.values()) == 200, outcomes


def test_fuzz_crafted_index_values_of_older_files_with_a_right_checksum_load_exactly_or_raise(tmp_path):
    """The checksum cannot help with a crafted file: the checks of every index must."""
    net = _net()
    path = _saved_old(tmp_path, net)
    tensors = [(None, "source"), (None, "target"), (None, "branch")] + [("state_dict", k) for k in _INDEX_BUFFERS]
    rng = np.random.default_rng(11)
    outcomes = {"refused": 0, "identical": 0}
    for _k in range(200):
        crafted = torch.load(path, weights_only=True)
        del crafted["checksum"]
        where, name = tensors[int(rng.integers(len(tensors)))]
        holder = crafted if where is None else crafted[where]
        t = holder[name].clone().long()
        t[int(rng.integers(t.numel()))] = int(rng.integers(-3, 3 * t.numel() + 3))
        holder[name] = t
        write_checked(path, crafted)
        try:
            loaded = dagnet.load(path)
        except FileFormatError:
            outcomes["refused"] += 1
            continue
        _computes_the_same(loaded, net)
        outcomes["identical"] += 1
    assert outcomes["refused"] > 100 and sum(outcomes.values()) == 200, outcomes


def test_fuzz_damaged_checkpoints_load_exactly_or_raise(tmp_path):
    net = _net()
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    net(X).sum().backward()
    opt.step()
    gen = torch.Generator().manual_seed(5)
    state = {
        "epoch": 3,
        "model": net.state_dict(),
        "optimizer": opt.state_dict(),
        "generator": gen.get_state(),
        "seed": 5,
        "metrics": [{"epoch": 1, "train_loss": 0.5, "test_accuracy": None}],
        "rules_ran": [False],
        "rules": [None],
        "degrees": {0: {"in": [1, 2]}},
    }
    ckpt = tmp_path / "checkpoint.pt"
    save_checkpoint(ckpt, state)
    data = ckpt.read_bytes()
    want = {"format": "dagnet.train.checkpoint", "version": 2, **state}
    path = tmp_path / "damaged.pt"
    outcomes = {"refused": 0, "identical": 0}
    for k, damaged in _damaged(data, np.random.default_rng(7), 200):
        path.write_bytes(damaged)
        try:
            loaded = load_checkpoint(path)
        except FileFormatError as e:
            assert e.path == path, k
            outcomes["refused"] += 1
            continue
        assert _same(loaded, want), k
        fresh = DAGNetwork(_graph(), seed=9, dtype=torch.float64)  # the original wiring: adopts the saved one
        fresh.load_state_dict(loaded["model"])
        _computes_the_same(fresh, net)
        outcomes["identical"] += 1
    assert outcomes["refused"] > 100 and outcomes["identical"] > 0 and sum(outcomes.values()) == 200, outcomes


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_save_refuses_a_network_in_a_dtype_it_could_not_load(tmp_path, dtype):
    net = DAGNetwork(_graph(), seed=0).to(dtype)
    with pytest.raises(TypeError, match=rf"it is in {dtype}.*net.float\(\) or net.double\(\)"):
        dagnet.save(net, tmp_path / "net.pt")
    assert not any(tmp_path.iterdir())


def test_save_into_a_missing_folder_or_onto_a_folder_names_the_path(tmp_path):
    net = DAGNetwork(_graph(), seed=0)
    with pytest.raises(
        FileNotFoundError, match=r"Cannot write .*nope.net.pt: its folder .*nope does not exist"
    ) as info:
        dagnet.save(net, tmp_path / "nope" / "net.pt")
    assert ".tmp" not in str(info.value)
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match=r"its folder .*file is not a folder"):
        dagnet.save(net, tmp_path / "file" / "net.pt")
    with pytest.raises(IsADirectoryError, match=r"Cannot write .*: it is a folder"):
        dagnet.save(net, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


@pytest.mark.parametrize("bad, error", [(5, TypeError), (None, TypeError), ("", ValueError)])
def test_load_and_save_take_only_paths(bad, error, tmp_path):
    with pytest.raises(error, match="path|empty"):
        dagnet.load(bad)
    with pytest.raises(error, match="path|empty"):
        dagnet.save(DAGNetwork(nx.DiGraph([(0, 1)]), seed=0), bad)


@pytest.mark.parametrize("device", ["cuda:7", "nonsense", 3.5])
def test_load_to_a_device_this_machine_lacks_says_so(device, tmp_path):
    if device == "cuda:7" and torch.cuda.device_count() > 7:
        pytest.skip("this machine has a cuda:7")
    path = tmp_path / "net.pt"
    dagnet.save(DAGNetwork(nx.DiGraph([(0, 1)]), seed=0), path)
    with pytest.raises(ValueError, match=r"'map_location' parameter of dagnet.load must name a device"):
        dagnet.load(path, map_location=device)
    assert dagnet.load(path, map_location="cpu").weight.device.type == "cpu"
