"""The fuzz tests share the real-server helper of the fault tests (tests/faults/chatproc.py)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "faults"))
