"""What the hot folder's open-writer check costs per round (``open_files.open_for_writing``).

    python bench/open_writers_bench.py [--files 1000] [--processes 0 100 500] [--fds 10] [--elsewhere]

Makes a folder of ``--files`` transcripts, then for each count in ``--processes`` starts that
many extra processes (``sleep``), each holding ``--fds`` of those files open for writing (the
worst case: every descriptor's flags are read; ``--elsewhere``: other files, as log files
are), and prints the median milliseconds of one /proc scan for all the folder's files beside
one settle scan of the folder (listing it and stat-ing every file, what each round does anyway).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from callscout.inputs.discovery import files_in
from callscout.watch.folder import SettleTracker
from callscout.watch.open_files import open_for_writing


def median_ms(action, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def hold_open(files: list[Path], count: int, fds: int) -> list[subprocess.Popen]:
    processes = []
    for n in range(count):
        handles = [open(files[(n * fds + k) % len(files)], "a") for k in range(fds)]  # noqa: SIM115
        try:
            processes.append(subprocess.Popen(["sleep", "600"], pass_fds=[h.fileno() for h in handles]))
        finally:
            for handle in handles:
                handle.close()
    return processes


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--processes", type=int, nargs="+", default=[0, 100, 500])
    parser.add_argument("--fds", type=int, default=10, help="files each extra process holds open for writing")
    parser.add_argument("--elsewhere", action="store_true", help="they hold other files open, not the folder's")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        inbox = Path(folder)
        files = [inbox / f"call{n:04d}.txt" for n in range(args.files)]
        for path in files:
            path.write_text("[00:00:00] Kunde: Hallo.\n", encoding="utf-8")
        others = Path(folder) / "elsewhere"
        others.mkdir()
        held_files = [others / f"log{n:04d}" for n in range(args.files)] if args.elsewhere else files
        for path in held_files:
            path.touch()
        tracker = SettleTracker(settle=0)
        print(f"{os.cpu_count()} cores, {args.files} files in the folder, held open {'elsewhere' if args.elsewhere else 'there'}")
        print("processes on the machine | files open for writing | /proc scan ms | settle scan ms")
        for extra in args.processes:
            held = hold_open(held_files, extra, args.fds)
            try:
                time.sleep(0.2)  # let them start
                running = sum(1 for name in os.listdir("/proc") if name.isdigit())
                idents = {(p.stat().st_dev, p.stat().st_ino) for p in files}
                writing = len(open_for_writing(idents))
                scan = median_ms(lambda idents=idents: open_for_writing(idents), args.repeat)
                settle = median_ms(lambda: tracker.update(list(files_in(inbox))), args.repeat)
                print(f"{running:>24} | {writing:>22} | {scan:>13.1f} | {settle:>14.1f}")
            finally:
                for process in held:
                    process.kill()
                for process in held:
                    process.wait()


if __name__ == "__main__":
    main()
