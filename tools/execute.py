"""Execute chapter notebooks in place, each from scratch in one fresh kernel, top to bottom.

Prints each notebook's wall time and the peak resident memory of its kernel, and records them in
``results/execution.json`` (read by the book's "Reproducing this book" appendix).

    python tools/execute.py chapters/*.ipynb
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import nbformat
import psutil
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results" / "execution.json"
FAILED = ROOT / "_build" / "failed"


class PeakMemory:
    """Polls the resident memory of this process's children (the kernel and anything it starts)."""

    def __init__(self, interval: float = 0.1):
        self.interval = interval
        self.peak = 0
        self.cell = None  # the index of the cell running now (set by the client's hook)
        self.peak_cell = None  # ... and while the peak was reached
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for child in me.children(recursive=True):
                try:
                    total += child.memory_info().rss
                except psutil.Error:
                    pass
            if total > self.peak:
                self.peak, self.peak_cell = total, self.cell
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def machine() -> dict:
    import torch

    return {
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
    }


def execute(path: Path, timeout: int, profile: int = 0) -> dict:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=timeout, kernel_name="python3", record_timing=bool(profile),
        resources={"metadata": {"path": str(path.parent)}},
    )
    start = time.perf_counter()
    with PeakMemory() as mem:
        client.on_cell_start = lambda cell, cell_index: setattr(mem, "cell", cell_index)
        try:
            client.execute()
        except CellExecutionError:
            # Keep the committed notebook as it was; leave the partly executed one for inspection.
            FAILED.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, FAILED / path.name)
            print(f"error: {path} failed; its partly executed copy is {FAILED / path.name}", file=sys.stderr)
            raise
    seconds = time.perf_counter() - start
    if profile:
        print_profile(nb, profile)
        print(f"  peak memory while cell {mem.peak_cell} ran", flush=True)
    nbformat.write(nb, path)
    return {"seconds": round(seconds, 1), "peak_mib": round(mem.peak / 2**20, 1)}


def print_profile(nb, n: int) -> None:
    """Print the ``n`` slowest code cells (seconds, index, first line) and strip the timing metadata
    again, so that profiling leaves the committed notebook's metadata as it was."""
    rows = []
    for i, cell in enumerate(nb.cells):
        timing = cell.get("metadata", {}).pop("execution", None)
        if cell.cell_type != "code" or not timing:
            continue
        t0, t1 = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
        if t0 and t1:
            dt = (datetime.fromisoformat(t1.replace("Z", "+00:00")) -
                  datetime.fromisoformat(t0.replace("Z", "+00:00"))).total_seconds()
            first = next((line for line in cell.source.splitlines() if line.strip() and not line.startswith("#")), "")
            rows.append((dt, i, first[:90]))
    for dt, i, first in sorted(rows, reverse=True)[:n]:
        print(f"  {dt:7.1f} s  cell {i:3d}  {first}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--timeout", type=int, default=1800, help="seconds allowed per cell")
    parser.add_argument("--no-record", action="store_true", help="do not update results/execution.json")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="print the N slowest cells")
    args = parser.parse_args()
    os.environ.setdefault("AEVAE_PROGRESS", "0")  # no progress bars in stored outputs
    os.environ.setdefault("PYTHONHASHSEED", "0")

    record = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"notebooks": {}}
    rows = []
    for path in args.notebooks:
        if not path.is_file():
            print(f"error: no notebook at {path}", file=sys.stderr)
            return 2
        print(f"executing {path} …", flush=True)
        stats = execute(path, args.timeout, args.profile)
        rows.append((path.name, stats))
        record["notebooks"][path.name] = stats
        print(f"  {stats['seconds']:8.1f} s   peak {stats['peak_mib']:8.1f} MiB", flush=True)
        if not args.no_record:  # after each notebook, so later notebooks (the appendix) can read it
            record["machine"] = machine()
            RESULTS.parent.mkdir(exist_ok=True)
            RESULTS.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")

    print("\nnotebook                               wall time      peak memory")
    for name, stats in rows:
        print(f"{name:38s} {stats['seconds']:8.1f} s   {stats['peak_mib']:8.1f} MiB")
    print(f"{'total':38s} {sum(s['seconds'] for _, s in rows):8.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
