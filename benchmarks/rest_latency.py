"""Benchmark: latency of ``mlflow models serve -m models:/<name>@champion`` over loopback.

Usage::

    .venv/bin/python benchmarks/rest_latency.py [--requests 1000] [--clients 8]

Trains a model on a generated history (``--leads``), registers it as champion in a
temporary SQLite store, serves it on 127.0.0.1 (a free port) and sends requests of
``--leads-per-request`` leads (default 1; ``dataframe_split`` JSON): first
``--sequential`` requests from one client (the latency of one request, no queueing), then
``--requests`` from ``--clients`` concurrent clients. Prints p50/p95/p99 latency,
throughput and errors of both phases, and the median time of the same ``predict`` in
process (no HTTP). Every request goes to loopback only; the run is
bounded by ``--requests`` and ``--max-seconds``. Exits with status 1 on any error or when
the single-client p50 is ``--budget-ms`` or more.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

HOST = "127.0.0.1"


@dataclass(frozen=True)
class LoadResult:
    """Latencies (ms) of the answered requests, and how many failed or were not sent."""

    latencies_ms: np.ndarray
    errors: int
    not_sent: int
    seconds: float
    first_error: str | None

    def line(self, label: str) -> str:
        """One printable summary line."""
        lat = self.latencies_ms
        p50, p95, p99 = np.percentile(lat, [50, 95, 99]) if len(lat) else (np.nan,) * 3
        return (
            f"{label:<12} requests {len(lat) + self.errors:>5}  errors {self.errors}  "
            f"not sent {self.not_sent}  p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  "
            f"p99 {p99:6.1f} ms  max {lat.max() if len(lat) else np.nan:6.1f} ms  "
            f"{(len(lat) + self.errors) / self.seconds:6.1f} req/s"
        )


def payload(rows: pd.DataFrame) -> bytes:
    """The ``dataframe_split`` request body for pyfunc input ``rows``."""
    clean = rows.astype(object).where(rows.notna(), None)
    split = {"columns": list(clean.columns), "data": clean.to_numpy().tolist()}
    return json.dumps({"dataframe_split": split}).encode()


def run_load(
    port: int, bodies: list[bytes], n_requests: int, clients: int, max_seconds: float
) -> LoadResult:
    """Send ``n_requests`` POSTs to ``/invocations`` on loopback from ``clients`` threads.

    Each client keeps one connection open and sends the bodies round-robin. Requests not
    started within ``max_seconds`` are counted as not sent.
    """
    lock = threading.Lock()
    counter = iter(range(n_requests))
    latencies: list[float] = []
    errors: list[str] = []
    deadline = time.monotonic() + max_seconds

    def client() -> None:
        conn = http.client.HTTPConnection(HOST, port, timeout=30)
        try:
            while time.monotonic() < deadline:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                t0 = time.perf_counter()
                try:
                    conn.request(
                        "POST",
                        "/invocations",
                        body=bodies[i % len(bodies)],
                        headers={"Content-Type": "application/json"},
                    )
                    resp = conn.getresponse()
                    body = resp.read()
                    ok = resp.status == 200 and b'"predictions"' in body
                except (OSError, http.client.HTTPException) as exc:
                    ok, body = False, repr(exc).encode()
                    conn.close()
                    conn = http.client.HTTPConnection(HOST, port, timeout=30)
                ms = (time.perf_counter() - t0) * 1000
                with lock:
                    if ok:
                        latencies.append(ms)
                    else:
                        errors.append(body[:300].decode(errors="replace"))
        finally:
            conn.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - started
    done = len(latencies) + len(errors)
    first = errors[0] if errors else None
    return LoadResult(np.asarray(latencies), len(errors), n_requests - done, seconds, first)


def in_process_ms(uri: str, name: str, rows: pd.DataFrame, k: int, calls: int = 50) -> float:
    """Median ms of ``predict`` on ``k`` lead(s) in this process (no HTTP), over ``calls``.

    The model is loaded as the server loads it and fed the frame the server builds from
    the ``dataframe_split`` JSON, so the gap to the REST figures is the HTTP server's.
    """
    import mlflow
    import mlflow.pyfunc

    mlflow.set_tracking_uri(uri)
    model = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    frames = []
    for i in range(calls):
        start = (i * k) % max(len(rows) - k + 1, 1)
        split = json.loads(payload(rows.iloc[start : start + k]))["dataframe_split"]
        frames.append(pd.DataFrame(split["data"], columns=split["columns"]))
    for frame in frames[:5]:  # warm-up
        model.predict(frame)
    times = []
    for frame in frames:
        t0 = time.perf_counter()
        model.predict(frame)
        times.append((time.perf_counter() - t0) * 1000)
    return float(np.median(times))


def ping_ms(port: int, n: int = 50) -> float:
    """Median ms of ``GET /ping`` on one kept-open connection: the HTTP floor of a request."""
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    times = []
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            conn.request("GET", "/ping")
            conn.getresponse().read()
            times.append((time.perf_counter() - t0) * 1000)
    finally:
        conn.close()
    return float(np.median(times))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _wait_until_up(proc: subprocess.Popen, port: int, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"mlflow models serve exited:\n{log.read_text()[-3000:]}")
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=2)
            conn.request("GET", "/ping")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"mlflow models serve did not answer in {timeout}s")


def _train_and_register(tmp: Path, n_leads: int, seed: int):
    from mqlml.config import load_config
    from mqlml.data.contract import validate_crm
    from mqlml.labels.labelled import label_history
    from mqlml.model.bundle import save_bundle
    from mqlml.serving.pyfunc import lead_rows, training_holdout
    from mqlml.serving.tracking import log_training
    from mqlml.synthetic.generate import generate_history
    from mqlml.workflow import fit_history

    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    cfg = load_config(
        None, {"name": "rest-bench", "models_dir": str(tmp / "models"), "tracking": {"uri": uri}}
    )
    history = generate_history(n_leads, seed=seed)
    crm = validate_crm(history.leads, history.activities, history.outcomes, cfg.data)
    model, artifacts = fit_history(crm, cfg)
    bundle = save_bundle(model, cfg.models_dir)
    tracked = log_training(cfg, bundle, model, training_holdout(label_history(crm, cfg), artifacts))
    if not (tracked.gate and tracked.gate.promoted):
        raise SystemExit(f"the model did not become champion: {tracked.gate}")
    newest = crm.leads.sort_values("created_at").tail(1000).reset_index(drop=True)
    as_of = pd.Series(crm.activities["occurred_at"].max() + pd.Timedelta(hours=1), newest.index)
    return uri, cfg.name, lead_rows(newest, crm.activities, as_of)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=20_000, help="leads in the training history")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--requests", type=int, default=1000, help="concurrent-phase requests")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--sequential", type=int, default=200, help="single-client requests")
    parser.add_argument("--leads-per-request", type=int, default=1)
    parser.add_argument(
        "--workers", type=int, default=1, help="server worker processes (see README)"
    )
    parser.add_argument("--max-seconds", type=float, default=300.0, help="per phase")
    parser.add_argument("--budget-ms", type=float, default=50.0, help="single-lead p50 goal")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="mqlml-rest-") as tmp_name:
        tmp = Path(tmp_name)
        t0 = time.perf_counter()
        uri, name, rows = _train_and_register(tmp, args.leads, args.seed)
        print(f"trained and registered {name} in {time.perf_counter() - t0:.1f}s")
        k = args.leads_per_request
        local_ms = in_process_ms(uri, name, rows, k)
        bodies = [payload(rows.iloc[i : i + k]) for i in range(0, len(rows) - k + 1, k)]
        port = _free_port()
        env = dict(os.environ, MLFLOW_TRACKING_URI=uri)
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        log = tmp / "serve.log"
        cmd = [sys.executable, "-m", "mlflow", "models", "serve", "-m", f"models:/{name}@champion"]
        cmd += ["--env-manager", "local", "-h", HOST, "-p", str(port), "-w", str(args.workers)]
        with open(log, "wb") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            _wait_until_up(proc, port, log, timeout=180)
            run_load(port, bodies, 20, 1, args.max_seconds)  # warm-up, not counted
            floor_ms = ping_ms(port)
            single = run_load(port, bodies, args.sequential, 1, args.max_seconds)
            loaded = run_load(port, bodies, args.requests, args.clients, args.max_seconds)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
    print(f"{args.leads_per_request} lead(s) per request, {args.workers} server worker(s)")
    print(f"in process   predict median of 50 calls {local_ms:6.1f} ms (no HTTP)")
    print(f"HTTP floor   GET /ping median of 50 calls {floor_ms:6.1f} ms")
    print(single.line("1 client"))
    print(loaded.line(f"{args.clients} clients"))
    for result in (single, loaded):
        if result.first_error:
            print(f"first error: {result.first_error}")
    p50 = float(np.percentile(single.latencies_ms, 50)) if len(single.latencies_ms) else np.inf
    print(f"goal: 0 errors, single lead p50 < {args.budget_ms:.0f} ms -> ", end="")
    failed = single.errors + loaded.errors + loaded.not_sent > 0 or p50 >= args.budget_ms
    print("not met" if failed else "met")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
