"""The house: `facts` at the bottom, the domains above it, the `mlp` command on top.

Every import between this repository's packages is read from the source with `ast` (at module
level and inside functions alike) and must point down a layer, or sideways to a package the
importing one declares in its `DEPENDS_ON` with a reason. Declared dependencies must be used and
must not form a cycle. The ground floor imports no Pulumi and no TensorFlow at all.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

from facts.stacks import REPO_ROOT

LAYERS: dict[str, int] = {"facts": 0, "infra": 1, "workloads": 1, "cost": 1, "policies": 1,
                          "mlp": 2}
"""Each package's floor: ground (shared facts), domains, roof (the command)."""
GROUND_NEVER = ("pulumi", "pulumi_gcp", "pulumi_kubernetes", "pulumi_policy", "tensorflow")


@dataclass(frozen=True)
class Edge:
    module: str
    line: int
    target: str

    @property
    def source_package(self) -> str:
        return self.module.split(".")[0]

    @property
    def target_package(self) -> str:
        return self.target.split(".")[0]

    def __str__(self) -> str:
        return f"{self.module}:{self.line} imports {self.target}"


def imports(root: Path, packages: set[str]) -> list[Edge]:
    """Every import statement in the packages under `root`, relative ones resolved."""
    edges = []
    for package in sorted(packages):
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            is_init = parts[-1] == "__init__"
            module = ".".join(parts[:-1] if is_init else parts)
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    edges += [Edge(module, node.lineno, a.name) for a in node.names]
                elif isinstance(node, ast.ImportFrom):
                    if node.level:
                        base = module.split(".")[:len(module.split(".")) - node.level
                                                  + (1 if is_init else 0)]
                        name = ".".join([*base, *([node.module] if node.module else [])])
                    else:
                        name = node.module or ""
                    edges.append(Edge(module, node.lineno, name))
    return edges


def declared(root: Path, package: str) -> dict[str, str]:
    """The package's `DEPENDS_ON` mapping (same-layer package → why), read without importing."""
    init = root / package / "__init__.py"
    for node in ast.parse(init.read_text()).body if init.is_file() else []:
        target = node.target if isinstance(node, ast.AnnAssign) else \
            node.targets[0] if isinstance(node, ast.Assign) else None
        if isinstance(target, ast.Name) and target.id == "DEPENDS_ON":
            return ast.literal_eval(node.value)
    return {}


def problems(root: Path, layers: dict[str, int]) -> list[str]:
    """Why the packages under `root` are not layered; empty when they are."""
    found = []
    claims = {package: declared(root, package) for package in layers}
    used: set[tuple[str, str]] = set()
    for edge in imports(root, set(layers)):
        source, target = edge.source_package, edge.target_package
        if layers[source] == 0 and target in GROUND_NEVER:
            found.append(f"{edge}: the ground floor imports no Pulumi and no TensorFlow")
        if target not in layers or target == source:
            continue
        if layers[target] > layers[source]:
            found.append(f"{edge}: upward, from floor {layers[source]} to {layers[target]}")
        elif layers[target] == layers[source]:
            if target in claims[source]:
                used.add((source, target))
            else:
                found.append(f"{edge}: {source} does not declare {target} in DEPENDS_ON")
    for source, targets in claims.items():
        for target, why in targets.items():
            if target not in layers or layers[target] != layers[source]:
                found.append(f"{source} declares {target}: only same-floor packages are declared")
            elif (source, target) not in used:
                found.append(f"{source} declares {target} but never imports it")
            if not str(why).strip():
                found.append(f"{source} declares {target} without a reason")
    found += [f"declared dependencies form a cycle: {' -> '.join(c)}"
              for c in _cycles({s: set(t) for s, t in claims.items()})]
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each node that lies on one (depth-first, in sorted order)."""
    cycles, done = [], set()

    def visit(node: str, trail: list[str]) -> None:
        if node in trail:
            cycles.append([*trail[trail.index(node):], node])
            return
        if node in done:
            return
        for nxt in sorted(graph.get(node, ())):
            visit(nxt, [*trail, node])
        done.add(node)

    for node in sorted(graph):
        visit(node, [])
    return cycles


def test_the_repository_is_layered():
    assert problems(REPO_ROOT, LAYERS) == []


def test_every_package_of_the_wheel_has_a_floor():
    import tomllib

    wheel = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]
    assert set(wheel["targets"]["wheel"]["packages"]) == set(LAYERS)


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


SMALL = {"base": 0, "left": 1, "right": 1, "top": 2}


@pytest.mark.parametrize(("files", "expected"), [
    ({"base/__init__.py": "", "base/a.py": "def f():\n    from top import cli\n"},
     "base.a:2 imports top: upward, from floor 0 to 2"),
    ({"left/__init__.py": "", "left/a.py": "from right.b import x\n", "right/__init__.py": ""},
     "left.a:1 imports right.b: left does not declare right in DEPENDS_ON"),
    ({"left/__init__.py": "DEPENDS_ON = {'right': 'r'}\n", "left/a.py": "import right\n",
      "right/__init__.py": "DEPENDS_ON = {'left': 'l'}\n", "right/b.py": "import left.a\n"},
     "declared dependencies form a cycle: left -> right -> left"),
    ({"left/__init__.py": "DEPENDS_ON = {'right': 'r'}\n", "right/__init__.py": ""},
     "left declares right but never imports it"),
    ({"base/__init__.py": "", "base/a.py": "def f():\n    import tensorflow\n"},
     "base.a:2 imports tensorflow: the ground floor imports no Pulumi and no TensorFlow"),
    ({"left/__init__.py": "", "left/sub/__init__.py": "",
      "left/sub/a.py": "from ...top import x\n"},
     "left.sub.a:1 imports top: upward, from floor 1 to 2"),
])
def test_the_check_finds_each_kind_of_bad_import(tmp_path, files, expected):
    assert expected in problems(_tree(tmp_path, files), SMALL)


def test_the_check_accepts_downward_and_declared_imports(tmp_path):
    root = _tree(tmp_path, {"base/__init__.py": "import yaml\n",
                            "left/__init__.py": "DEPENDS_ON = {'right': 'why'}\n",
                            "left/a.py": "from base import x\nfrom right import y\n",
                            "right/__init__.py": "", "top/__init__.py": "import left, right\n"})
    assert problems(root, SMALL) == []
