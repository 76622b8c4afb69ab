"""Load test of `mlptrain serve` on this machine (requests to 127.0.0.1 only).

    python benchmarks/serve_load.py RUN_DIR --rows FILE.csv [--quick] [--workers N]

Starts `mlptrain serve RUN_DIR` on a free 127.0.0.1 port, then, each phase bounded in requests
and seconds:

1. single-row and 1,000-row requests (JSON ``dataframe_split``) at 1, 8 and 32 concurrent
   clients, each client on one keep-alive connection: p50/p99 latency and rows per second;
2. in-process ``Predictor.predict`` on the same 1,000 rows, already read and encoded, and
   from the cells a parsed JSON body holds (typed and encoded on each call by the server's
   own ``predict_cells``: the like-with-like baseline, all but HTTP and JSON), and the ratios of served to in-process rows per second;
3. 20,000 single-row requests from 8 clients, 1% of them malformed (broken JSON, a missing
   column): every good answer must equal the in-process prediction, every bad one a 400;
   the server's resident memory (VmRSS) after the first and the last thousand.

The rows come from ``--rows`` (a CSV `mlptrain predict` takes, e.g. the training file). Figures
are only meaningful on an idle machine: the load average is printed before and after. Each run
is appended to benchmarks/serve_load_results.json (``--results``; ``--label`` names it), the
file docs/serving.md quotes. Nothing is claimed here; targets are in docs/serving.md.
"""

from __future__ import annotations

import argparse
import csv
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "serve_load_results.json"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def typed(cell: str):
    if cell == "":
        return None
    for kind in (int, float):
        try:
            return kind(cell)
        except ValueError:
            pass
    return cell


def read_rows(path: Path, columns: list[str]) -> list[list]:
    with path.open(newline="") as file:
        table = list(csv.reader(file))
    header = table[0]
    return [[typed(row[header.index(c)]) for c in columns] for row in table[1:]]


def body(columns: list[str], rows: list[list]) -> bytes:
    return json.dumps({"dataframe_split": {"columns": columns, "data": rows}}).encode()


def http_stack() -> str:
    """Which of uvicorn's optional fast parts the server can use (it picks them when present)."""
    import importlib.util

    have = [name for name in ("httptools", "uvloop") if importlib.util.find_spec(name)]
    return "uvicorn with " + (", ".join(have) if have else "h11 and asyncio")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def clients(port: int, n_clients: int, payloads, max_requests: int, max_seconds: float):
    """``n_clients`` threads sending ``payloads(i)`` (body, what to expect) until
    ``max_requests`` in all or ``max_seconds``; returns [(latency s, status, answer, expect)]."""
    results: list[tuple[float, int, bytes, object]] = []
    lock = threading.Lock()
    counter = iter(range(max_requests))
    deadline = time.monotonic() + max_seconds

    def work() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while time.monotonic() < deadline:
            with lock:
                i = next(counter, None)
            if i is None:
                break
            data, expect = payloads(i)
            start = time.perf_counter()
            connection.request("POST", "/invocations", data, {"Content-Type": "application/json"})
            answer = connection.getresponse()
            text = answer.read()
            elapsed = time.perf_counter() - start
            with lock:
                results.append((elapsed, answer.status, text, expect))
        connection.close()

    threads = [threading.Thread(target=work) for _ in range(n_clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, time.perf_counter() - start


def start_server(
    run: Path, workers: int | None = None, code: Path = ROOT
) -> tuple[subprocess.Popen, int]:
    port = free_port()
    # the checkout to measure first; a PYTHONPATH already set (extra packages) after it
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(code), os.environ.get("PYTHONPATH")])),
    }
    # run from the checkout: `python -m` puts the working directory first on sys.path, so a
    # server started elsewhere (e.g. in another checkout) would import that one's code
    imported = subprocess.run(
        [sys.executable, "-c", "import mlptrain; print(mlptrain.__file__)"],
        env=env,
        cwd=code,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    print(f"the server imports {imported}")
    command = [sys.executable, "-m", "mlptrain", "serve", str(run.resolve()), "--port", str(port)]
    process = subprocess.Popen(
        command + (["--workers", str(workers)] if workers else []),
        env=env,
        cwd=code,
        stdout=subprocess.DEVNULL,
    )
    for _ in range(300):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=1).read()
            return process, port
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the server did not start")


def in_process_rows_per_s(run: Path, rows_file: Path, n: int, seconds: float) -> float:
    """Rows per second of ``Predictor.predict`` on ``n`` rows already read, as predict reads them."""
    import tempfile

    from mlptrain.data import read_features
    from mlptrain.data.features import read_table_inputs
    from mlptrain.serving.loading import load

    predictor = load(run)
    lines = rows_file.read_text().splitlines()
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "rows.csv"
        path.write_text("\n".join([lines[0], *(lines[1:] * (n // len(lines[1:]) + 1))[:n]]) + "\n")
        if predictor.table is not None:
            data = predictor.meta.data_config
            X, _ = read_table_inputs(path, encoder=predictor.table, data=data)
        else:
            X, _ = read_features(path, feature_names=predictor.feature_names)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        predictor.predict(X)
        count += 1
    return count * n / (time.perf_counter() - start)


def cells_rows_per_s(run: Path, columns: list[str], rows: list[list], seconds: float) -> float:
    """Rows per second in process from 1,000 rows as the server has them after parsing a JSON
    body (cells by column), typed, encoded and predicted on each call by the server's own
    ``predict_cells``: the like-with-like baseline (no HTTP, no JSON), where
    ``in_process_rows_per_s`` starts from rows already typed and encoded."""
    from mlptrain.serving.loading import load
    from mlptrain.serving.predict import predict_cells

    predictor = load(run)
    batch = (rows * (1000 // len(rows) + 1))[:1000]
    cells = [list(column) for column in zip(*batch, strict=True)]
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        predict_cells(predictor, columns, cells, source="request")
        count += 1
    return count * 1000 / (time.perf_counter() - start)


def save(record: dict, path: Path) -> None:
    """Append this run's figures to ``path`` (a JSON object holding a list of runs)."""
    saved = json.loads(path.read_text()) if path.exists() else {"runs": []}
    saved["runs"].append(record)
    path.write_text(json.dumps(saved, indent=2) + "\n")
    print(f"saved to {path}")


def phases(port: int, columns: list[str], rows: list[list], scale: int) -> dict:
    """Phase 1: single-row and 1,000-row requests at 1, 8 and 32 clients."""
    batch = (rows * (1000 // len(rows) + 1))[:1000]
    single = [body(columns, [row]) for row in rows[:100]]
    thousand = body(columns, batch)
    print(f"{'rows':>5} {'clients':>7} {'requests':>8} {'p50 ms':>8} {'p99 ms':>8} {'rows/s':>10}")
    table = []
    for n_rows, data, budget in ((1, None, 4000 // scale), (1000, thousand, 200 // scale)):
        for n_clients in (1, 8, 32):
            results, wall = clients(
                port,
                n_clients,
                lambda i, data=data: (data or single[i % len(single)], True),
                max(budget, n_clients),
                60 / scale,
            )
            failed = [r for r in results if r[1] != 200]
            latencies = [r[0] * 1000 for r in results]
            line = {
                "rows": n_rows,
                "clients": n_clients,
                "requests": len(results),
                "p50_ms": round(statistics.median(latencies), 2),
                "p99_ms": round(percentile(latencies, 0.99), 2),
                "rows_per_s": round(len(results) * n_rows / wall),
                "failed": len(failed),
            }
            table.append(line)
            print(
                f"{n_rows:>5} {n_clients:>7} {len(results):>8} {line['p50_ms']:>8.2f} "
                f"{line['p99_ms']:>8.2f} {line['rows_per_s']:>10}"
                + (f"  FAILED {len(failed)}" if failed else "")
            )
    return {"requests": table}


def in_process(
    run: Path, rows_file: Path, served: dict[int, float], scale: int, columns: list, rows: list
) -> dict:
    """Phase 2: in-process rows per second, default BLAS threads and one (the server's), from
    encoded rows; and, one thread, from the cells a JSON body gives (typed per call)."""
    from threadpoolctl import threadpool_limits

    local = in_process_rows_per_s(run, rows_file, 1000, 10 / scale)
    print(f"in-process Predictor.predict, 1,000-row batches: {local:.0f} rows/s")
    for n_clients, rate in served.items():
        print(f"  served/in-process at {n_clients} clients: {rate / local:.2f}")
    # the server's own setting (BLAS on one thread): on a busy 2-core machine the default
    # BLAS threads make the figure above vary by 2x from run to run
    with threadpool_limits(limits=1, user_api="blas"):
        one = in_process_rows_per_s(run, rows_file, 1000, 10 / scale)
    print(f"in-process, BLAS on one thread as in the server: {one:.0f} rows/s")
    for n_clients, rate in served.items():
        print(f"  served/in-process (one thread) at {n_clients} clients: {rate / one:.2f}")
    with threadpool_limits(limits=1, user_api="blas"):
        cells = cells_rows_per_s(run, columns, rows, 10 / scale)
    print(
        f"in-process predict_cells from cells (typed and encoded per call), one thread: {cells:.0f}"
    )
    for n_clients, rate in served.items():
        print(f"  served/in-process (from cells) at {n_clients} clients: {rate / cells:.2f}")
    return {
        "in_process_from_cells_one_blas_thread_rows_per_s": round(cells),
        "served_over_in_process_from_cells": {
            str(k): round(v / cells, 3) for k, v in served.items()
        },
        "in_process_rows_per_s": round(local),
        "in_process_one_blas_thread_rows_per_s": round(one),
        "served_over_in_process": {str(k): round(v / local, 3) for k, v in served.items()},
        "served_over_in_process_one_thread": {str(k): round(v / one, 3) for k, v in served.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument(
        "--rows", type=Path, required=True, help="a CSV of rows mlptrain predict takes"
    )
    parser.add_argument("--quick", action="store_true", help="a tenth of the requests")
    parser.add_argument("--workers", type=int, help="the server's --workers (default: its own)")
    parser.add_argument(
        "--code",
        type=Path,
        default=ROOT,
        help="the checkout the server runs (default: this one); run the script with the same "
        "PYTHONPATH so that the in-process figure is that checkout's too",
    )
    parser.add_argument("--label", default="", help="a name for this run in the results file")
    parser.add_argument("--results", type=Path, default=RESULTS, help="the file runs go to")
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    record: dict = {
        "label": args.label,
        "utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        "command": " ".join(sys.argv),
        "code": str(args.code.resolve()),
        "quick": args.quick,
        "cores": os.cpu_count(),
        "workers": args.workers or "default",
        "stack": http_stack(),
        "load_before": [round(x, 2) for x in os.getloadavg()],
    }
    print(f"load average before: {os.getloadavg()}")
    print(f"cores: {os.cpu_count()}; workers: {args.workers or 'default'}; {http_stack()}")
    process, port = start_server(args.run, args.workers, args.code.resolve())
    import mlptrain

    print(f"in-process figures import {mlptrain.__file__}")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metadata") as answer:
            meta = json.loads(answer.read())
        columns = [c["name"] for c in meta["inputs"]]
        rows = read_rows(args.rows, columns)
        record.update(phases(port, columns, rows, scale))
        served = {r["clients"]: r["rows_per_s"] for r in record["requests"] if r["rows"] == 1000}
        record.update(in_process(args.run, args.rows, served, scale, columns, rows))
        record["mixed"] = mixed(args.run, port, process.pid, columns, rows, 20_000 // scale)
    finally:
        process.send_signal(signal.SIGTERM)
        record["server_exit_code"] = process.wait(timeout=60)
        print(f"server exit code: {record['server_exit_code']}")
        record["load_after"] = [round(x, 2) for x in os.getloadavg()]
        print(f"load average after: {os.getloadavg()}")
    save(record, args.results)


def mixed(run: Path, port: int, pid: int, columns: list[str], rows: list[list], total: int) -> dict:
    """``total`` single-row requests, every 100th malformed; answers checked; RSS per thousand."""
    good_bodies = [body(columns, [row]) for row in rows[:100]]
    # The answers a good request must get: the in-process Predictor's, on the same row.
    from mlptrain.serving.loading import load

    predictor = load(run)
    expected = [
        predictor.predict({name: [cell] for name, cell in zip(columns, row, strict=True)}).tolist()
        for row in rows[:100]
    ]
    bad = [b'{"dataframe_split": {"columns"', body(columns[1:], [rows[0][1:]])]

    def payload(i: int):
        if i % 100 == 99:
            return bad[(i // 100) % 2], None
        return good_bodies[i % 100], expected[i % 100]

    rss, wrong = [], 0
    for start in range(0, total, 1000):
        results, _ = clients(port, 8, lambda i, s=start: payload(s + i), 1000, 120)
        for _, status, text, want in results:
            if want is not None:
                ok = status == 200 and json.loads(text)["predictions"] == want
            else:
                ok = status == 400 and "message" in json.loads(text)
            wrong += not ok
        rss.append(rss_kib(pid))
    print(
        f"mixed: {total} requests (1% malformed), {wrong} wrong answers; server RSS first "
        f"thousand {rss[0] / 1024:.1f} MiB, last {rss[-1] / 1024:.1f} MiB "
        f"({(rss[-1] - rss[0]) / rss[0]:+.1%})"
    )
    return {
        "requests": total,
        "wrong": wrong,
        "rss_first_mib": round(rss[0] / 1024, 1),
        "rss_last_mib": round(rss[-1] / 1024, 1),
    }


if __name__ == "__main__":
    main()
