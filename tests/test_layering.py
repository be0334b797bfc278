"""Imports point one way: tools <- envs <- rollout <- training <- evaluation <- benchmark scripts <- command line.

Every import in every module counts, those inside functions too: a lazy import is still a dependency, only a
later one. A module may import its own layer and the layers below it, never one above.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("tools", "envs", "trainer", "benchmarks")
# (module prefix, layer): the longest matching prefix decides.
LAYERS = (
    ("agent_r1.tools", 0),
    ("agent_r1.envs", 1),
    ("agent_r1.trainer.rollout", 2),
    ("agent_r1.trainer", 3),
    ("agent_r1.benchmarks.evaluation", 4),
    ("agent_r1.benchmarks", 5),
    ("agent_r1.trainer.cli", 6),
)
NAMES = ("tools", "envs", "rollout", "training", "evaluation", "benchmark scripts", "command line")


def layer(module: str) -> int:
    matches = [(len(prefix), level) for prefix, level in LAYERS if module == prefix or module.startswith(prefix + ".")]
    assert matches, f"{module} is in no layer"
    return max(matches)[1]


def modules() -> dict[str, Path]:
    found = {}
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            parts = parts[:-1] if parts[-1] == "__init__" else parts
            found[".".join(("agent_r1", *parts))] = path
    return found


def imports(module: str, path: Path) -> list[tuple[int, str]]:
    """(line, module imported) for each import of agent_r1 in the file, relative imports resolved."""
    found = []
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            found.append((node.lineno, base))
    return [(line, name) for line, name in found if name.startswith("agent_r1.")]


def test_every_module_has_a_layer():
    assert len(modules()) > 50
    for module in modules():
        layer(module)


@pytest.mark.parametrize("module", sorted(modules()))
def test_imports_point_down_the_layers(module):
    path = modules()[module]
    own = layer(module)
    upward = [f"{path.relative_to(ROOT)}:{line} imports {name} ({NAMES[layer(name)]})"
              for line, name in imports(module, path) if layer(name) > own]
    assert not upward, f"{module} is in the {NAMES[own]} layer, but:\n" + "\n".join(upward)


def test_the_checker_sees_an_upward_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from agent_r1.benchmarks.evaluation.harness import run_bench\n")
    assert [layer(name) for _, name in imports("agent_r1.envs.bad", bad)] == [4] and layer("agent_r1.envs.bad") == 1
