import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The real dataset samples live beside the repository, never inside it.
SHARED_DATA = Path(os.environ.get("AGENT_R1_SHARED_DATA", ROOT.parent / "shared" / "data"))


def shared_file(relative: str) -> Path:
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"shared sample {path} is not present")
    return path
