"""Real connectomes as directed graphs: the C. elegans wiring diagram."""

from __future__ import annotations

import csv
import os
from collections import defaultdict
from pathlib import Path

import networkx as nx
import numpy as np

from .._checks import check_choice
from ..data.paths import find_data_file
from ..wiring import Wiring

__all__ = ["connectome", "neuron_role"]

_FILES = {"celegans": "celegans_neuronconnect.csv"}
_COLUMNS = ("source", "target", "type", "count")
_CHEMICAL = ("S", "Sp")  # sent: the row's source is presynaptic
_KNOWN_TYPES = {"S", "Sp", "R", "Rp", "EJ", "NMJ"}

# Neuron classes of the C. elegans hermaphrodite by function, after Cook et al. (2019),
# "Whole-animal connectomes of both Caenorhabditis elegans sexes", Nature 571.
# A neuron's name is its class plus a side/position suffix (L, R, D, V, DL, ...) or a number.
_SENSORY = frozenset(
    "ADE ADF ADL AFD ALM ALN AQR ASE ASG ASH ASI ASJ ASK AVM AWA AWB AWC BAG CEP DVA FLP IL1 IL2 "
    "OLL OLQ PDE PHA PHB PHC PLM PLN PQR PVD PVM SDQ URX URY".split()
)
_MOTOR = frozenset("AS DA DB DD HSN PDA PDB RIV RMD RME RMH SAB SIA SIB SMB SMD URA VA VB VC VD".split())
_SUFFIXES = frozenset({"", "L", "R", "D", "V", "DL", "DR", "VL", "VR"})


def neuron_role(name: str) -> str:
    """Return ``"sensory"``, ``"motor"`` or ``"interneuron"`` for a C. elegans neuron name.

    Classes follow Cook et al. (2019); names outside both lists (interneurons,
    or neurons of other animals) are ``"interneuron"``. IL1 (sensory and motor)
    counts as sensory.

    Examples
    --------
    >>> neuron_role("ASHL"), neuron_role("VA01"), neuron_role("AVAL")
    ('sensory', 'motor', 'interneuron')
    """
    for cut in range(len(name), 0, -1):
        cls, rest = name[:cut], name[cut:]
        if rest in _SUFFIXES or rest.isdigit():
            if cls in _SENSORY:
                return "sensory"
            if cls in _MOTOR:
                return "motor"
    return "interneuron"


def _read_rows(path: Path):
    """Yield (source, target, type, count) from a NeuronConnect-style csv, checking each row."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in _COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(
                f"{path} is not a connectome csv: missing column(s) {', '.join(missing)}; "
                f"expected a header with {','.join(_COLUMNS)}."
            )
        for row in reader:
            line = reader.line_num
            kind = row["type"].strip()
            if kind not in _KNOWN_TYPES:
                raise ValueError(
                    f"{path}, line {line}: unknown synapse type {kind!r}; expected one of "
                    f"{', '.join(sorted(_KNOWN_TYPES))}."
                )
            try:
                count = int(row["count"])
            except (TypeError, ValueError):
                raise ValueError(f"{path}, line {line}: count {row['count']!r} is not an int.") from None
            yield row["source"].strip(), row["target"].strip(), kind, count


def connectome(
    name: str = "celegans",
    path: str | os.PathLike | None = None,
    synapses: str = "chemical",
    as_wiring: bool = False,
) -> nx.DiGraph | Wiring:
    """Return a connectome as a directed graph (with cycles: cut them with :func:`feedforward_cut`).

    Reads a NeuronConnect-style csv (columns ``source,target,type,count``; the
    C. elegans file of Varshney et al. 2011, WormAtlas). Type ``S``/``Sp``
    (chemical synapse sent, polyadic or not) gives the edge ``source ->
    target``; ``R``/``Rp`` rows list the same synapses from the receiving end
    and are skipped, so each synapse counts once. ``EJ`` (gap junction) is
    undirected; ``NMJ`` (neuromuscular junction) has no neuron at the other end.

    Parameters
    ----------
    name : {"celegans"}
        Which connectome; sets the default file name
        (``celegans_neuronconnect.csv``) and the neuron roles.
    path : str or path-like, optional
        The csv file (any file in this format), or the folder that holds it.
        Default: the file in the folder named by the environment variable
        ``DAGNET_DATA`` if set, else in ``../shared/data`` beside the current
        directory or the repository.
    synapses : {"chemical", "all"}
        ``"chemical"``: chemical synapses only. ``"all"``: gap junctions too, as
        an edge in each direction (a junction listed from both ends counts once:
        the larger of the two counts; a neuron's junction with itself is left out).
    as_wiring : bool
        Return a :class:`dagnet.Wiring` (labels = neuron names, ``edge_attrs``
        with the counts) instead of a ``networkx.DiGraph``; roles are then lost.

    Returns
    -------
    networkx.DiGraph or Wiring
        Nodes: every neuron with at least one synapse of the kind asked for,
        sorted by name. Edge data: ``count``, the number of synapses (chemical,
        plus gap junctions with ``synapses="all"``, which also adds ``chemical``
        and ``electrical`` counts). Node data: ``role`` (``"sensory"``,
        ``"motor"`` or ``"interneuron"``, by name, see :func:`neuron_role`) and
        ``nmj``, the neuron's neuromuscular junctions in the file. Graph data:
        ``inputs`` (the sensory neurons) and ``outputs`` (the motor neurons), in
        node order, the natural input and output nodes of a network; and
        ``name``, ``path`` and ``synapses``.

    Raises
    ------
    FileNotFoundError
        If the file is missing (the message says where it looked).
    ValueError
        If the file is not in this format (the message names the line).

    See Also
    --------
    feedforward_cut : turn the connectome into a DAG; ``sources=g.graph["inputs"]``
        makes the sensory neurons usable as inputs.

    Examples
    --------
    >>> g = connectome("celegans")  # doctest: +SKIP
    >>> g.number_of_nodes(), g.number_of_edges(), len(g.graph["inputs"])  # doctest: +SKIP
    (279, 2194, 83)
    >>> dag = feedforward_cut(g, sources=g.graph["inputs"]).dag  # doctest: +SKIP
    """
    func = "connectome"
    name = check_choice(name, "name", func, tuple(_FILES))
    synapses = check_choice(synapses, "synapses", func, ("chemical", "all"))
    file = find_data_file(_FILES[name], path, what="connectome", func=func)
    chemical: dict[tuple[str, str], int] = defaultdict(int)
    junction: dict[tuple[str, str], int] = defaultdict(int)
    nmj: dict[str, int] = defaultdict(int)
    for source, target, kind, count in _read_rows(file):
        if kind in _CHEMICAL:
            chemical[source, target] += count
        elif kind == "EJ" and synapses == "all" and source != target:
            junction[source, target] += count
        elif kind == "NMJ":
            nmj[source] += count
    electrical = {(a, b): max(c, junction.get((b, a), 0)) for (a, b), c in junction.items()}
    electrical.update({(b, a): c for (a, b), c in electrical.items()})
    pairs = sorted(set(chemical) | set(electrical))
    labels = sorted({neuron for pair in pairs for neuron in pair})
    index = {lab: i for i, lab in enumerate(labels)}
    chem = np.array([chemical.get(p, 0) for p in pairs], dtype=np.int64)
    attrs = {"count": chem}
    if synapses == "all":
        elec = np.array([electrical.get(p, 0) for p in pairs], dtype=np.int64)
        attrs = {"count": chem + elec, "chemical": chem, "electrical": elec}
    wiring = Wiring(
        len(labels),
        np.array([index[a] for a, _ in pairs], dtype=np.int64),
        np.array([index[b] for _, b in pairs], dtype=np.int64),
        labels=labels,
        edge_attrs=attrs,
    )
    if as_wiring:
        return wiring
    graph = wiring.to_graph()
    for neuron in labels:
        graph.nodes[neuron].update(role=neuron_role(neuron), nmj=nmj.get(neuron, 0))
    graph.graph.update(
        name=name,
        path=str(file),
        synapses=synapses,
        inputs=[v for v in labels if graph.nodes[v]["role"] == "sensory"],
        outputs=[v for v in labels if graph.nodes[v]["role"] == "motor"],
    )
    return graph
