"""The C. elegans connectome loader, on the real file and on small made-up ones."""

from __future__ import annotations

import csv
from collections import Counter

import networkx as nx
import pytest

from dagnet.topology import connectome, feedforward_cut
from dagnet.topology.connectome import neuron_role


@pytest.fixture(scope="module")
def celegans_csv(data_dir):
    return data_dir / "celegans_neuronconnect.csv"


def test_chemical_synapses_are_counted_once(celegans_csv):
    g = connectome("celegans", path=celegans_csv)
    with open(celegans_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    sent = sum(int(r["count"]) for r in rows if r["type"] in ("S", "Sp"))
    received = sum(int(r["count"]) for r in rows if r["type"] in ("R", "Rp"))
    total = sum(c for *_, c in g.edges(data="count"))
    assert total == sent == received  # each synapse is listed from both ends; we take it once
    assert (g.number_of_nodes(), g.number_of_edges()) == (279, 2194)
    assert g.edges["ADEL", "ADAL"]["count"] == 1  # "ADEL,ADAL,Sp,1": ADEL is presynaptic
    assert "NMJ" not in g and not any(nx.selfloop_edges(g))
    assert not nx.is_directed_acyclic_graph(g)


def test_roles_inputs_and_outputs(celegans_csv):
    g = connectome(path=celegans_csv)
    roles = Counter(role for _, role in g.nodes(data="role"))
    assert roles == {"sensory": 83, "motor": 115, "interneuron": 81}
    assert g.graph["inputs"] == [v for v in g if g.nodes[v]["role"] == "sensory"]
    assert {"ASHL", "AWCR", "PLML"} <= set(g.graph["inputs"]) and {"VA01", "DB07"} <= set(g.graph["outputs"])
    assert g.nodes["VA01"]["nmj"] > 0 and g.nodes["AVAL"]["nmj"] == 0


def test_gap_junctions_in_both_directions(celegans_csv):
    chemical = connectome(path=celegans_csv)
    both = connectome(path=celegans_csv, synapses="all")
    assert both.number_of_edges() > chemical.number_of_edges()
    for u, v, d in both.edges(data=True):
        assert d["count"] == d["chemical"] + d["electrical"]
        if d["electrical"]:
            assert both.edges[v, u]["electrical"] == d["electrical"]
    assert both.edges["ADAR", "ADAL"]["electrical"] == 1 == both.edges["ADAL", "ADAR"]["electrical"]
    assert not any(nx.selfloop_edges(both))  # RIBL-RIBL gap junction left out


def test_feedforward_cut_makes_the_connectome_trainable(celegans_csv):
    g = connectome(path=celegans_csv)
    cut = feedforward_cut(g, weight="count", sources=g.graph["inputs"])
    dag = cut.dag
    assert nx.is_directed_acyclic_graph(dag) and cut.minimal
    assert all(dag.in_degree(v) == 0 for v in g.graph["inputs"])
    assert cut.num_removed < g.number_of_edges() / 3
    assert dag.graph["inputs"] == g.graph["inputs"]  # graph data carried over


def test_wiring_form(celegans_csv):
    w = connectome(path=celegans_csv, as_wiring=True)
    assert w.num_edges == 2194 and w.labels[0] == "ADAL"
    assert int(w.edge_attrs["count"].sum()) == 6394


def test_default_path_comes_from_dagnet_data(data_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("DAGNET_DATA", str(data_dir))
    assert connectome().number_of_edges() == 2194
    monkeypatch.setenv("DAGNET_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError) as info:
        connectome()
    message = str(info.value)
    assert str(tmp_path) in message and "DAGNET_DATA" in message and "path=" in message


def test_any_file_in_the_format(tmp_path):
    path = tmp_path / "tiny.csv"
    path.write_text(
        "source,target,type,count\n"
        "a,b,S,2\nb,a,R,2\na,b,Sp,1\nb,a,R,1\nb,c,S,4\nc,b,R,4\nc,a,EJ,3\na,c,EJ,3\nc,NMJ,NMJ,5\n"
    )
    g = connectome(path=path)
    assert dict(g.edges) == {("a", "b"): {"count": 3}, ("b", "c"): {"count": 4}}
    assert g.graph["inputs"] == [] and g.nodes["c"]["nmj"] == 5
    g = connectome(path=path, synapses="all")
    assert g.edges["a", "c"] == {"count": 3, "chemical": 0, "electrical": 3}


@pytest.mark.parametrize(
    "text, message",
    [
        ("from,to,type,count\na,b,S,1\n", "missing column(s) source, target"),
        ("source,target,type,count\na,b,X,1\n", "line 2: unknown synapse type 'X'"),
        ("source,target,type,count\na,b,S,many\n", "line 2: count 'many' is not an int"),
    ],
)
def test_malformed_files_name_the_problem(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ValueError) as info:
        connectome(path=path)
    assert message in str(info.value)


def test_missing_file_and_bad_arguments(tmp_path):
    with pytest.raises(FileNotFoundError, match="No connectome file at"):
        connectome(path=tmp_path / "nope.csv")
    with pytest.raises(ValueError, match="The 'synapses' parameter of connectome must be one of"):
        connectome(path=tmp_path / "nope.csv", synapses="electrical")
    with pytest.raises(ValueError, match="The 'name' parameter of connectome"):
        connectome("drosophila")


@pytest.mark.parametrize(
    "name, role",
    [
        ("ASHL", "sensory"),
        ("IL1DL", "sensory"),
        ("PVM", "sensory"),
        ("AS01", "motor"),
        ("RMDDL", "motor"),
        ("RMED", "motor"),
        ("SABVL", "motor"),
        ("ASEL", "sensory"),
        ("AVAL", "interneuron"),
        ("RMFL", "interneuron"),
        ("ADAL", "interneuron"),
        ("NMJ", "interneuron"),
    ],
)
def test_neuron_roles_by_name(name, role):
    assert neuron_role(name) == role
