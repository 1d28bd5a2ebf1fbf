"""Peak memory of building and training a model, each in a fresh process (see :mod:`dagnet.bench.engine`)."""

from __future__ import annotations

import gc
import json
import os
import select
import subprocess
import sys
import time
import traceback

import torch

from .._checks import check_int
from .fourward_code import load_fourward
from .workload import MEMORY_STEPS, build_model, make_batch, target_for, training_step, warm_up, wiring_for

__all__ = ["measure_peak_memory", "memory_method", "close_memory_server"]


def _status_kib(key: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS counter (VmHWM) of this process; False if not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return _status_kib("VmHWM") is not None


def _maxrss_kib() -> float:
    import resource

    value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return value / 1024.0 if sys.platform == "darwin" else float(value)  # bytes on macOS


def _release_free_memory() -> None:
    """Give freed heap memory back to the OS (glibc), so the base RSS holds only live data."""
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _memory_worker(spec: dict) -> dict:
    """Body of a memory child process: see the module docstring. Returns MiB figures.

    The baselines draw their values from the seed (DAGNetwork's rule) instead of
    copying a DAGNetwork's: the values do not change the memory, and no
    DAGNetwork then lives (or has lived) in the process.
    """
    torch.set_num_threads(int(spec["threads"]))
    impl, seed = spec["impl"], int(spec["seed"])
    wiring = wiring_for(int(spec["n"]), float(spec["p"]), seed)
    x, y = make_batch(wiring, int(spec["batch"]), seed)
    warm_up()
    _release_free_memory()
    base = _status_kib("VmRSS")
    exact = base is not None and _reset_peak()
    if not exact:
        base = _maxrss_kib()

    def peak() -> float:
        return float(_status_kib("VmHWM")) if exact else _maxrss_kib()

    fourward = load_fourward(spec["fourward_code"]) if impl == "4ward-code" else None
    model = build_model(impl, wiring, seed, backend=spec.get("backend"), fourward=fourward)
    build_peak = peak()
    if exact:
        _reset_peak()
    step = training_step(model, x, target_for(model, y))
    for _ in range(int(spec.get("steps", MEMORY_STEPS))):
        step()
    step_peak = peak()
    mib = 1024.0
    return {
        "base_mib": base / mib,
        "build_mib": (build_peak - base) / mib,
        "step_mib": (step_peak - base) / mib,
        "method": "VmHWM" if exact else "ru_maxrss",
    }


def _memory_worker_main() -> None:  # pragma: no cover - runs in a fresh interpreter
    """Entry of a one-spec memory process (where there is no ``os.fork``)."""
    print(json.dumps(_memory_worker(json.loads(sys.argv[1]))), flush=True)


def _memory_server() -> None:  # pragma: no cover - runs in a helper process
    """Serve memory measurements: fork one fresh child per request.

    Reads one JSON request ``{"id", "spec"}`` per line on stdin; each child
    writes one JSON line ``{"id", "ok", "result" | "error"}`` to stdout (lines
    this short are written atomically). This process only imports dagnet, so
    every child starts from the same clean state without paying for the
    imports again. A child killed by a signal is reported as an error.
    """
    out = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # stray prints must not mix with the replies

    def reply(message: dict) -> None:
        os.write(out, (json.dumps(message) + "\n").encode())

    children: dict[int, object] = {}
    buffer = b""
    open_ = True
    while open_ or children:
        if open_ and select.select([0], [], [], 0.05 if children else None)[0]:
            chunk = os.read(0, 1 << 16)
            open_ = bool(chunk)
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                request = json.loads(line)
                pid = os.fork()
                if pid == 0:
                    code = 0
                    try:
                        message = {"id": request["id"], "ok": True, "result": _memory_worker(request["spec"])}
                    except BaseException:
                        message = {"id": request["id"], "ok": False, "error": traceback.format_exc()[-3000:]}
                        code = 1
                    reply(message)
                    os._exit(code)
                children[pid] = request["id"]
        elif not open_:
            time.sleep(0.05)
        while children:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            ident = children.pop(pid)
            if os.WIFSIGNALED(status):
                reply(
                    {
                        "id": ident,
                        "ok": False,
                        "error": f"the process was killed by signal {os.WTERMSIG(status)} (out of memory?)",
                    }
                )


_SERVER_CODE = "from dagnet.bench.memory import _memory_server; _memory_server()"
_WORKER_CODE = "from dagnet.bench.memory import _memory_worker_main; _memory_worker_main()"


class _MemoryServer:
    """The harness's side of :func:`_memory_server` (started once, closed at the end)."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _SERVER_CODE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            bufsize=1,
        )
        self.next_id = 0

    def measure(self, specs: list[dict], jobs: int) -> list[dict]:
        results: dict[int, dict] = {}
        ids: list[int] = []
        pending = list(specs)
        running = 0
        while pending or running:
            while pending and running < jobs:
                ids.append(self.next_id)
                self.proc.stdin.write(json.dumps({"id": self.next_id, "spec": pending.pop(0)}) + "\n")
                self.proc.stdin.flush()
                self.next_id += 1
                running += 1
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"The memory server stopped (exit {self.proc.poll()}).")
            message = json.loads(line)
            running -= 1
            if not message["ok"]:
                spec = specs[ids.index(message["id"])]
                raise RuntimeError(f"The memory measurement of {spec} failed:\n{message['error']}")
            results[message["id"]] = message["result"]
        return [results[i] for i in ids]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait()


_SERVER: _MemoryServer | None = None


def close_memory_server() -> None:
    global _SERVER
    if _SERVER is not None:
        _SERVER.close()
        _SERVER = None


def measure_peak_memory(specs: list[dict], jobs: int = 1) -> list[dict]:
    """Measure the peak memory of each spec in its own fresh process.

    Each spec names ``impl`` (dagnet, 4ward, 4ward-code or sequential), ``n``,
    ``p``, ``seed``, ``batch`` and ``threads``, and optionally dagnet's
    ``backend`` and the ``fourward_code`` path (for 4ward-code); the process rebuilds the same
    Erdős–Rényi wiring and batch, then builds and trains the model (see the
    module docstring for what is counted). The processes are forked from a
    helper that has imported dagnet and done nothing else (a fresh
    interpreter each where there is no ``os.fork``); at most ``jobs`` run at
    once. The helper lives until :func:`run_benchmark` ends.

    Returns
    -------
    list of dict
        Per spec: ``base_mib`` (RSS before building), ``build_mib`` and
        ``step_mib`` (peak above the base while building, and while training
        with the model in memory), and the ``method`` used.

    Raises
    ------
    RuntimeError
        If a measurement fails (its traceback is included).

    Examples
    --------
    >>> spec = dict(impl="dagnet", n=50, p=0.1, seed=0, batch=8, threads=1)
    >>> measure_peak_memory([spec])[0]["method"] in ("VmHWM", "ru_maxrss")  # doctest: +SKIP
    True
    """
    global _SERVER
    jobs = check_int(jobs, "jobs", "measure_peak_memory")
    if hasattr(os, "fork"):
        if _SERVER is None or _SERVER.proc.poll() is not None:
            _SERVER = _MemoryServer()
        return _SERVER.measure(specs, jobs)
    results = []
    for spec in specs:  # one fresh interpreter per spec
        done = subprocess.run([sys.executable, "-c", _WORKER_CODE, json.dumps(spec)], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"The memory measurement of {spec} failed:\n{done.stderr[-3000:]}")
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return results


# --------------------------------------------------------------------------- runs


def memory_method() -> str:
    if sys.platform.startswith("linux") and os.access("/proc/self/clear_refs", os.W_OK):
        return "VmHWM"
    return "ru_maxrss"
