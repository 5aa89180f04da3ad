"""How the demo's supervisor stops what it started: newest first, each one finishing while
the ones it talks to still run (the audience delivers its last events to a live API)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from watchflow.processes import Supervisor

# A child that, on SIGINT, takes argv[3] seconds to finish (as the simulator delivering what
# is in flight does), then notes whether the child whose output file is argv[2] had already
# stopped (a child writes its file as it stops).
_CHILD = """
import os, signal, sys, time
out, other, linger = sys.argv[1], sys.argv[2], float(sys.argv[3])
def stop(*_):
    time.sleep(linger)
    open(out, "w").write("gone" if os.path.exists(other) else "alive")
    sys.exit(0)
signal.signal(signal.SIGINT, stop)
open(out + ".ready", "w").write("")
while True:
    time.sleep(0.05)
"""


def _wait_ready(path: Path) -> None:
    deadline = time.monotonic() + 10
    while not Path(f"{path}.ready").exists():
        assert time.monotonic() < deadline, f"{path} never started"
        time.sleep(0.02)


def test_each_child_stops_while_the_ones_started_before_it_still_run(tmp_path: Path) -> None:
    env = dict(os.environ)
    script = tmp_path / "child.py"
    script.write_text(_CHILD)
    server_out, client_out = tmp_path / "server", tmp_path / "client"
    with Supervisor(tmp_path / "logs") as sup:
        # the "server" started first; it lingers a little on its way out
        server = sup.start(
            "server", [sys.executable, str(script), str(server_out), "-", "0.2"], env
        )
        _wait_ready(server_out)
        # the "client", started after it, needs it alive while it finishes (0.5 s)
        sup.start(
            "client",
            [sys.executable, str(script), str(client_out), str(server_out), "0.5"],
            env,
        )
        _wait_ready(client_out)
    assert client_out.read_text() == "alive"  # the server was still up when the client ended
    assert server_out.read_text() == "alive"  # and it then stopped cleanly (not killed)
    assert server.proc.returncode == 0
