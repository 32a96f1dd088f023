"""How the benchmarks that import it print and save their one JSON result."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def emit(result: dict[str, Any], *, compact: bool, out: Path | None) -> None:
    """Print the result (one line with --json, indented otherwise) and write it to ``out``."""
    text = json.dumps(result, indent=None if compact else 2, sort_keys=True)
    print(text)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
