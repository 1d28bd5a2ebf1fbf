"""Data-parallel training (dagnet.distributed): two processes with gloo on 127.0.0.1 against one process.

Each test starts its processes with a bounded wait, so that a hang fails
rather than blocks; the workers are this module's functions, run in fresh
(spawned) interpreters.
"""

from __future__ import annotations

import datetime
import functools
import multiprocessing
import os
import socket
import subprocess
import sys
import time
import traceback
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from dagnet.data import Dataset
from dagnet.distributed import (
    Replicas,
    all_reduce_gradients,
    gradient_bytes,
    join_from_env,
    rank_slice,
    slice_sizes,
    wiring_digest,
)
from dagnet.errors import ReplicaMismatchError
from dagnet.evolve import SET, RigL
from dagnet.nn import Population, sparse_mlp
from dagnet.topology import random_io_dag
from dagnet.train import fit, load_checkpoint

WAIT_S = 240  # the longest a group of worker processes may take (a loaded machine is slow to start them)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _toy(seed: int = 0, n: int = 210, features: int = 12, classes: int = 3) -> Dataset:
    """A small classification set: labels from a fixed linear rule of Gaussian features."""
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n + 60, features, generator=g)
    y = (X @ torch.randn(features, classes, generator=g)).argmax(1)
    return Dataset(X[:n], y[:n], X[n:], y[n:], "toy", classes)


def _worker(rank: int, world: int, port: int, out: str, target, args: tuple) -> None:
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=world,
        timeout=datetime.timedelta(seconds=WAIT_S / 2),
    )
    try:
        result = {"value": target(rank, *args)}
    except Exception as err:  # noqa: BLE001 - reported to the test, which asserts on it
        result = {
            "error": type(err).__name__,
            "message": str(err),
            "ranks": getattr(err, "ranks", None),
            "module": getattr(err, "module", None),
            "traceback": traceback.format_exc(),
        }
    torch.save(result, os.path.join(out, f"rank{rank}.pt"))
    dist.destroy_process_group()


def _spawn(tmp_path: Path, target, *args, world: int = 2) -> list[dict]:
    """Run ``target(rank, *args)`` in ``world`` processes of one gloo group; return what each returned or raised."""
    out = tmp_path / f"ranks-{time.monotonic_ns()}"
    out.mkdir()
    ctx = multiprocessing.get_context("spawn")
    port = _free_port()
    procs = [ctx.Process(target=_worker, args=(r, world, port, str(out), target, args)) for r in range(world)]
    for p in procs:
        p.start()
    deadline = time.monotonic() + WAIT_S
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
    hung = [r for r, p in enumerate(procs) if p.is_alive()]
    for p in procs:
        if p.is_alive():
            p.kill()
            p.join()
    assert not hung, f"ranks {hung} did not finish within {WAIT_S} s"
    results = []
    for r in range(world):
        path = out / f"rank{r}.pt"
        results.append(torch.load(path, weights_only=False) if path.exists() else {"exit": procs[r].exitcode})
    return results


def _values(results: list[dict]) -> list:
    for r, res in enumerate(results):
        assert "value" in res, f"rank {r}: {res.get('traceback', res)}"
    return [res["value"] for res in results]


# ---------------------------------------------------------------- what the workers run (and one process too)
def _recorder(model, log: list, every: str):
    """A fit callback that records the wiring (and the epoch's test accuracy) after each epoch or step."""

    def callback(event, info):
        if event == every:
            log.append(wiring_digest(model))

    return callback


SCENARIOS = [("mlp", "SET"), ("mlp", "RigL"), ("population", "SET"), ("loaders", "SET")]
IN, OUT = [("in", j) for j in range(12)], [("out", j) for j in range(3)]


def _train(model_kind: str, rule_kind: str, rule_seed: int = 0, epochs: int = 3, batch_size: int = 25) -> dict:
    """Train a small model with a rule; return the wiring after each rule step, the final state and the metrics."""
    data = _toy()
    if model_kind == "loaders":  # DistributedSampler: rank r takes samples r, r + 2, ...; 15 each make 30
        data, batch_size = _loaders(data, 30), None
    if model_kind in ("mlp", "loaders"):
        model = sparse_mlp([12, 24, 24, 3], epsilon=4, seed=0)
    else:
        wirings = [random_io_dag(12, 10 + 4 * k, 3, 0.3, 3, 3, seed=k) for k in range(3)]
        model = Population(wirings, seed=0, inputs=IN, outputs=OUT)
    if rule_kind == "SET":
        rule = SET(zeta=0.3, seed=rule_seed)
    else:
        rule = RigL(update_every=3, drop_fraction=0.3, seed=rule_seed)
    log: list = []
    result = fit(
        model,
        data,
        optimizer=functools.partial(torch.optim.SGD, lr=0.2, momentum=0.9),
        epochs=epochs,
        **({} if batch_size is None else {"batch_size": batch_size}),
        rules=[rule],
        progress=False,
        callbacks=[_recorder(model, log, "epoch" if rule_kind == "SET" else "step")],
    )
    return {"wirings": log, "state": model.state_dict(), "metrics": result.metrics}


def _loaders(data: Dataset, batch_size: int) -> tuple:
    """Training and test loaders in order; the training one shared out over the ranks, if there are several."""
    train = torch.utils.data.TensorDataset(data.X_train, data.y_train)
    test = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(data.X_test, data.y_test), batch_size=64)
    if not dist.is_initialized():
        return torch.utils.data.DataLoader(train, batch_size=batch_size), test
    sampler = torch.utils.data.distributed.DistributedSampler(train, shuffle=False)
    return torch.utils.data.DataLoader(train, batch_size=batch_size // 2, sampler=sampler), test


def _scenarios(rank: int, folder: str) -> None:
    """On each rank, in one start of the processes (they are slow to start): every scenario of SCENARIOS,
    then one where rank 1's rule has another seed (it must raise), then a run with dropout, and the same run
    killed in its second epoch (its rank writes the rest to ``folder`` first)."""
    out = {kinds: _train(*kinds) for kinds in SCENARIOS}
    try:
        _train("mlp", "SET", rule_seed=rank)
    except ReplicaMismatchError as err:
        out["tampered"] = {"error": type(err).__name__, "ranks": err.ranks, "module": err.module, "message": str(err)}
    try:  # 201 samples in batches of 25: the last one, of 1, leaves a rank without any
        fit(sparse_mlp([12, 6, 3], seed=0), _toy(n=201), epochs=1, batch_size=25, progress=False)
    except ValueError as err:
        out["uneven"] = str(err)
    torch.save(out, Path(folder) / f"scenarios{rank}.pt")
    torch.save(_dropout_run(Path(folder) / "whole"), Path(folder) / f"whole{rank}.pt")
    _dropout_run(Path(folder) / "killed", kill_at=(2, 4))


@pytest.fixture(scope="module")
def ranks_folder(tmp_path_factory):
    """The folder of what :func:`_scenarios` left on two processes (started once for the tests that read it)."""
    folder = tmp_path_factory.mktemp("ranks")
    assert [res.get("exit") for res in _spawn(folder, _scenarios, str(folder))] == [0, 0]
    return folder


@pytest.fixture(scope="module")
def two_ranks(ranks_folder):
    return [torch.load(ranks_folder / f"scenarios{r}.pt", weights_only=False) for r in range(2)]


def _check_equivalent(one: dict, ranks: list) -> None:
    for r, res in enumerate(ranks):
        assert res["wirings"] == one["wirings"], f"rank {r}: another wiring than one process"
        assert res["state"].keys() == one["state"].keys()
        for key, value in one["state"].items():
            assert res["state"][key].shape == value.shape, key
            if value.dtype.is_floating_point:
                torch.testing.assert_close(res["state"][key], value, atol=1e-4, rtol=0)
            elif not key.endswith("rng_state"):
                assert torch.equal(res["state"][key], value), key
        for a, b in zip(res["metrics"], one["metrics"], strict=True):
            assert a["test_accuracy"] == b["test_accuracy"]
            assert a.get("best_test_accuracy") == b.get("best_test_accuracy")
            assert a["train_loss"] == pytest.approx(b["train_loss"], abs=1e-4)
    drop = lambda rows: [{k: v for k, v in row.items() if k != "seconds"} for row in rows]  # noqa: E731
    assert drop(ranks[0]["metrics"]) == drop(ranks[1]["metrics"])  # every rank reports the same figures


@pytest.mark.parametrize("kinds", SCENARIOS, ids=["-".join(k) for k in SCENARIOS])
def test_two_processes_train_as_one(two_ranks, kinds):
    one = _train(*kinds)
    assert len(one["wirings"]) >= 2 and one["wirings"][0] != one["wirings"][-1]  # the rule did rewire
    _check_equivalent(one, [res[kinds] for res in two_ranks])


def test_ranks_that_disagree_about_the_wiring_raise(two_ranks):
    for res in two_ranks:  # every rank raises, naming rank 1 and the first module
        assert res["tampered"]["error"] == "ReplicaMismatchError"
        assert res["tampered"]["ranks"] == [1]
        assert res["tampered"]["module"] == "0"
        assert "rank 1" in res["tampered"]["message"] and "'SET'" in res["tampered"]["message"]


def test_every_batch_must_give_each_rank_a_sample(two_ranks):
    for res in two_ranks:
        assert "batch_size=25 and 201 training samples a batch holds 1" in res["uneven"]


# ---------------------------------------------------------------- killed mid-epoch, resumed
def _dropout_run(out_dir: Path, resume: bool = False, kill_at: tuple | None = None) -> dict:
    model = sparse_mlp([12, 24, 24, 3], epsilon=4, dropout=0.2, seed=0)

    def kill(event, info):
        if event == "step" and (info["epoch"], info["batch"]) == kill_at:
            os._exit(0)  # as a killed process: no clean-up, nothing written

    result = fit(
        model,
        _toy(),
        epochs=3,
        batch_size=25,
        rules=[SET(zeta=0.3, seed=0)],
        out_dir=out_dir,
        resume=resume,
        progress=False,
        callbacks=[kill] if kill_at else [],
    )
    return {"state": model.state_dict(), "metrics": result.metrics}


def _resume(rank: int, killed: str) -> dict:
    return _dropout_run(Path(killed), resume=True)


def test_a_run_killed_mid_epoch_resumes_bit_for_bit(ranks_folder, tmp_path):
    whole, killed = ranks_folder / "whole", ranks_folder / "killed"
    assert load_checkpoint(killed / "checkpoint.pt")["epoch"] == 1  # rank 0 wrote it after epoch 1
    assert (whole / "metrics.csv").is_file() and (whole / "training.png").is_file()
    resumed = _values(_spawn(tmp_path, _resume, str(killed)))
    for r, res in enumerate(resumed):
        uninterrupted = torch.load(ranks_folder / f"whole{r}.pt", weights_only=False)
        assert res["state"].keys() == uninterrupted["state"].keys()
        for key, value in uninterrupted["state"].items():
            assert torch.equal(res["state"][key], value), f"rank {r}: {key}"
        drop = lambda rows: [{k: v for k, v in row.items() if k != "seconds"} for row in rows]  # noqa: E731
        assert drop(res["metrics"]) == drop(uninterrupted["metrics"])
    streams = [key for key in resumed[0]["state"] if key.endswith("rng_state")]
    assert streams and all(not torch.equal(resumed[0]["state"][k], resumed[1]["state"][k]) for k in streams)
    for key in resumed[0]["state"].keys() - set(streams):  # dropped alike or not, the ranks' weights are one
        assert torch.equal(resumed[0]["state"][key], resumed[1]["state"][key]), key
    saved = load_checkpoint(killed / "checkpoint.pt")
    assert saved["epoch"] == 3
    for key, value in resumed[0]["state"].items():
        assert torch.equal(saved["model"][key], value), key


# ---------------------------------------------------------------- torchrun and the command line
CONFIG = """\
seed = 0
epochs = 2
batch_size = 50
[data]
name = "digits"
[model]
kind = "set_mlp"
hidden = [32]
epsilon = 4
[optimizer]
name = "sgd"
lr = 0.05
momentum = 0.9
[[evolve]]
rule = "SET"
zeta = 0.3
"""


def test_torchrun_trains_the_command_lines_run_data_parallel(tmp_path):
    from dagnet.cli.commands import main

    cfg = tmp_path / "cfg.toml"
    cfg.write_text(CONFIG)
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1"]
    command += [f"--master_port={_free_port()}", "-m", "dagnet", "train", str(cfg), "--quiet"]
    command += ["--out-dir", str(tmp_path / "two")]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    done = subprocess.run(command, capture_output=True, text=True, timeout=WAIT_S, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("test accuracy") == 1  # rank 0 alone reports
    assert main(["train", str(cfg), "--quiet", "--out-dir", str(tmp_path / "one")]) == 0
    one, two = (load_checkpoint(tmp_path / name / "checkpoint.pt") for name in ("one", "two"))
    assert [r["test_accuracy"] for r in two["metrics"]] == [r["test_accuracy"] for r in one["metrics"]]
    assert two["model"].keys() == one["model"].keys()
    for key, value in one["model"].items():
        if value.dtype.is_floating_point:
            torch.testing.assert_close(two["model"][key], value, atol=1e-4, rtol=0)
        else:
            assert torch.equal(two["model"][key], value), key


# ---------------------------------------------------------------- in one process
def test_rank_slices_cover_the_batch_in_order():
    x = torch.arange(11)
    for world in (1, 2, 3, 4):
        sizes = slice_sizes(11, world)
        assert sum(sizes) == 11 and max(sizes) - min(sizes) <= 1
        assert torch.cat([rank_slice(x, r, world) for r in range(world)]).tolist() == x.tolist()
    with pytest.raises(ValueError, match="rank"):
        rank_slice(x, 2, 2)


def test_join_from_env_needs_what_torchrun_sets(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    assert join_from_env() is False  # not started by a launcher: one process, as ever
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ValueError, match="MASTER_ADDR and MASTER_PORT"):
        join_from_env()
    assert not dist.is_initialized()


def test_replicas_need_a_process_group():
    with pytest.raises(RuntimeError, match="init_process_group"):
        Replicas()
    assert Replicas.current() is None


def _group_of_one(tmp_path: Path) -> None:
    dist.init_process_group(
        "gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1, timeout=datetime.timedelta(seconds=30)
    )


def test_all_reduce_gradients_in_a_group_of_one_keeps_the_gradients(tmp_path):
    model = sparse_mlp([6, 5, 2], epsilon=2, seed=0)
    model(torch.randn(7, 6)).sum().backward()
    before = [p.grad.clone() for p in model.parameters()]
    _group_of_one(tmp_path)
    try:
        total, loss = all_reduce_gradients(model, 7, torch.tensor(0.5))
        replicas = Replicas()
        assert (replicas.rank, replicas.world_size, replicas.lead) == (0, 1, True)
        assert float(total) == 7 and float(loss) == 0.5
        for p, g in zip(model.parameters(), before):
            torch.testing.assert_close(p.grad, g)  # times 7, divided by 7
        assert gradient_bytes(model) == 4 * (sum(p.numel() for p in model.parameters()) + 2 + 4)
    finally:
        dist.destroy_process_group()


def test_the_weighted_mean_of_slices_is_the_whole_batchs_gradient():
    """The arithmetic all_reduce_gradients does, on slices of unequal size: as one process with the batch."""
    model = sparse_mlp([6, 5, 3], epsilon=2, seed=0, dtype=torch.float64)
    x, y = torch.randn(9, 6, dtype=torch.float64), torch.tensor([0, 1, 2] * 3)
    torch.nn.functional.cross_entropy(model(x), y).backward()
    whole = [p.grad.clone() for p in model.parameters()]
    summed = [torch.zeros_like(g) for g in whole]
    for r in range(2):
        model.zero_grad()
        xs, ys = rank_slice(x, r, 2), rank_slice(y, r, 2)
        torch.nn.functional.cross_entropy(model(xs), ys).backward()
        for s, p in zip(summed, model.parameters()):
            s += p.grad * len(ys)
    for s, g in zip(summed, whole):
        torch.testing.assert_close(s / 9, g)
