"""The package's layers: each module imports only from its own or lower layers, with no cycles.

    basics -> formulas -> measurement -> models/data/training -> presentation -> labs -> CLI

An AST scan of every module (imports inside functions count too). A new module must be
placed in LAYERS before it can land.
"""

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "course_utils"

LAYERS: dict[str, tuple[str, ...]] = {
    "basics": ("__init__", "validators", "units", "paths", "versions", "tfenv"),
    "formulas": ("costs", "roofline", "conv", "numerics"),
    "measurement": ("timing", "machine", "hardware", "profiler", "energy"),
    "models": ("models", "data", "training", "litert"),
    "presentation": ("plots", "notebook", "results", "exercises", "classreport"),
    "labs": ("labs",),
    "cli": ("__main__",),
}
RANK = {module: rank for rank, modules in enumerate(LAYERS.values()) for module in modules}
#: formulas are pure arithmetic: the standard library and NumPy (with ml_dtypes, NumPy's
#: extension dtypes such as bfloat16), nothing else
FORMULA_THIRD_PARTY = {"numpy", "ml_dtypes"}


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        found[".".join(parts)] = path
    return found


def _layer_key(module: str) -> str:
    return "labs" if module == "labs" or module.startswith("labs.") else module


def _imports(module: str, path: Path) -> list[tuple[str, list[str], int]]:
    """(imported course_utils module or third-party top name, names taken, line) of every import."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package_parts = module.split(".")[:-1]  # the package a relative import starts from
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                name = alias.name
                if name == "course_utils" or name.startswith("course_utils."):
                    out.append(
                        (
                            name.removeprefix("course_utils").lstrip(".") or "__init__",
                            [],
                            node.lineno,
                        )
                    )
                else:
                    out.append(("!" + name.split(".")[0], [], node.lineno))
        elif isinstance(node, ast.ImportFrom):
            names = [a.name for a in node.names]
            if node.level == 0:
                mod = node.module or ""
                if mod == "course_utils" or mod.startswith("course_utils."):
                    base = mod.removeprefix("course_utils").lstrip(".")
                    out.extend(_resolve(base, names, node.lineno))
                else:
                    out.append(("!" + mod.split(".")[0], names, node.lineno))
                continue
            anchor = package_parts[: len(package_parts) - (node.level - 1)]
            base = ".".join([*anchor, *([node.module] if node.module else [])])
            out.extend(_resolve(base, names, node.lineno))
    return out


def _resolve(base: str, names: list[str], line: int) -> list[tuple[str, list[str], int]]:
    """``from base import names``: each name that is itself a module counts as that module."""
    modules = _modules()
    result, rest = [], []
    for name in names:
        candidate = f"{base}.{name}" if base else name
        if candidate in modules:
            result.append((candidate, [], line))
        else:
            rest.append(name)
    if rest:
        result.append((base or "__init__", rest, line))
    return result


GRAPH = {m: _imports(m, p) for m, p in _modules().items()}


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_module_has_a_layer(module):
    assert _layer_key(module) in RANK or module.startswith("labs"), (
        f"course_utils.{module} is in no layer: add it to LAYERS in tests/test_layering.py"
    )


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_imports_only_from_own_or_lower_layers(module):
    mine = RANK[_layer_key(module)]
    for target, _, line in GRAPH[module]:
        if target.startswith("!") or target == module:
            continue
        theirs = RANK[_layer_key(target)]
        assert theirs <= mine, (
            f"course_utils.{module} (layer {list(LAYERS)[mine]}) imports course_utils.{target} "
            f"(layer {list(LAYERS)[theirs]}) at line {line}: move the shared code down a layer"
        )
        if _layer_key(target) == "labs":
            assert _layer_key(module) in ("labs", "__main__"), (
                f"course_utils.{module} imports the lab module course_utils.{target}"
            )


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_no_private_names_across_modules(module):
    for target, names, line in GRAPH[module]:
        if target.startswith("!"):
            continue
        private = [n for n in names if n.startswith("_") and n != "__version__"]
        hidden = [
            p for p in target.split(".") if p.startswith("_") and p not in ("__init__", "__main__")
        ]
        assert not private and not hidden, (
            f"course_utils.{module} line {line} imports private {private or hidden} from "
            f"course_utils.{target}: make it public or keep it in one module"
        )


def test_no_import_cycles():
    edges = {m: {t for t, _, _ in GRAPH[m] if not t.startswith("!") and t != m} for m in GRAPH}
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt) :] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module)


@pytest.mark.parametrize("module", LAYERS["formulas"])
def test_formulas_use_numpy_only(module):
    stdlib = set(sys.stdlib_module_names)
    for target, _, line in GRAPH[module]:
        if target.startswith("!"):
            top = target[1:]
            assert top in stdlib or top in FORMULA_THIRD_PARTY or top == "__future__", (
                f"course_utils.{module} imports {top} at line {line}: formulas use NumPy only"
            )
    source = _modules()[module].read_text()
    assert "open(" not in source, f"course_utils.{module} does file I/O: formulas compute only"


def test_the_layers_name_real_modules():
    modules = {_layer_key(m) for m in GRAPH}
    for layer, names in LAYERS.items():
        for name in names:
            assert name in modules or name == "classreport", (
                f"LAYERS[{layer!r}] names {name!r}, which does not exist"
            )


def _listed(text: str) -> set[str]:
    import re

    names = set(re.findall(r"\blabs\.(\w+)", text))
    return {f"labs.{n}" for n in names} | set(re.findall(r"`(\w+)`", text))


def test_package_docstring_and_readme_list_exactly_the_modules():
    import course_utils

    modules = {m for m in GRAPH if not m.endswith("__init__") and m != "__main__"}
    doc = course_utils.__doc__
    in_doc = {m for m in modules if (m in doc.split() or f"labs.{m.split('.')[-1]}" in doc)}
    assert in_doc == modules, f"package docstring misses {sorted(modules - in_doc)}"
    readme = (PACKAGE.parent / "README.md").read_text()
    section = readme[readme.index("| layer | modules |") :]
    section = section[: section.index("\n\n")]
    listed = _listed(section) & ({m for m in modules} | {m.split(".")[-1] for m in modules})
    missing = sorted(m for m in modules if m not in listed and m.split(".")[-1] not in listed)
    assert not missing, f"README's module table misses {missing}"
    extra = {f"labs.{n}" for n in __import__("re").findall(r"\blabs\.(\w+)", section)} - modules
    assert not extra, f"README lists modules that do not exist: {sorted(extra)}"
