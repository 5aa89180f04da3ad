"""Stand-ins for the programs the local broker runs (java, mvn): tiny shell scripts."""

from __future__ import annotations

import stat
from pathlib import Path


def executable(path: Path, script: str) -> str:
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)
