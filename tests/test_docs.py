"""The worked example of docs/extending.md runs as written."""

import re

from conftest import ROOT


def test_the_extending_guide_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "extending.md").read_text(), re.DOTALL)
    assert len(blocks) == 3
    namespace = {"__name__": "__guide__"}
    for code in blocks:  # one program in three parts, as the page reads
        exec(compile(code, "docs/extending.md", "exec"), namespace)
    assert namespace["info"]["metrics"]["em"] == 1.0
