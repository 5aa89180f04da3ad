"""``python -m bench [NAME] [OPTIONS]``: run one benchmark by name, or every one in turn.

A benchmark is a module of this package with ``main(argv: list[str]) -> int``; adding one is
one line in ``BENCHMARKS``. Options after the name go to that benchmark (``python -m bench
ingest --help``); without a name the options (e.g. ``--quick``) go to every benchmark.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence
from typing import cast

# name -> module; imported only when run, so one benchmark's imports never slow another.
BENCHMARKS: dict[str, str] = {
    "ingest": "bench.ingest",
    "worker": "bench.worker",
    "warehouse": "bench.warehouse",
}

USAGE = f"""usage: python -m bench [NAME] [OPTIONS]

Runs benchmark NAME, or all of them when no name is given (in this order):
  {", ".join(BENCHMARKS)}

Options go to the benchmark(s); common to all: --quick (a short smoke run).
`python -m bench NAME --help` lists the options of one benchmark."""


def main(argv: Sequence[str]) -> int:
    args = list(argv)
    if args[:1] in (["-h"], ["--help"]):
        print(USAGE)
        return 0
    if args and not args[0].startswith("-"):
        name = args.pop(0)
        if name not in BENCHMARKS:
            print(f"unknown benchmark {name!r}\n\n{USAGE}", file=sys.stderr)
            return 2
        names = [name]
    else:
        names = list(BENCHMARKS)
    worst = 0
    for name in names:
        module = importlib.import_module(BENCHMARKS[name])
        run = cast(Callable[[list[str]], int], module.main)
        worst = max(worst, run(list(args)))
    return worst


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
