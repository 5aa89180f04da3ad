"""``watchflow api`` under cProfile with a CPU-time clock, for ``bench.ingest_profile``.

``python -m bench.profiled_api OUT.prof`` runs the API exactly as ``watchflow api`` does (same
environment, uvloop + httptools). Profiling starts on SIGUSR1 (after the warm-up, so imports
and start-up are left out) and the profile is written to OUT.prof when the API stops (SIGINT).
The clock is cProfile's default (wall time, cheap): ``time.process_time`` would be the right
clock, but it is a system call (~1.3 µs here) made twice per Python call, and would inflate
everything fivefold. Idle time lands in the event loop's own frame (uvloop's C loop is not
visible to cProfile), which ``bench.ingest_profile`` reports apart.
"""

from __future__ import annotations

import cProfile
import signal
import sys
from types import FrameType

from watchflow import cli


def main(argv: list[str]) -> int:
    out = argv[0]
    profile = cProfile.Profile()

    def start(signum: int, frame: FrameType | None) -> None:
        profile.enable()

    signal.signal(signal.SIGUSR1, start)
    try:
        return cli.main(["api"])
    finally:
        profile.disable()
        profile.dump_stats(out)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
