"""The layers hold: every import in ``src/tsunagi`` is checked against the rules below.

Each layer may import only what sits beneath it (docs/ARCHITECTURE.md draws them). The walk reads
every ``import`` and ``from … import`` statement, including those inside functions and under
``if TYPE_CHECKING:``, so a type-only import across a boundary counts too. A failure lists each
forbidden import as ``file:line: module -> imported``.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "tsunagi"

# Modules every layer may use: plain values, no behaviour of another layer.
FOUNDATION = ("tsunagi.context", "tsunagi.trace", "tsunagi.ids", "tsunagi.clock", "tsunagi.config",
              "tsunagi.filters", "tsunagi.streams", "tsunagi.policy", "tsunagi.signed_urls")

# layer prefix -> prefixes it must not import (a longer allowed prefix wins, see ALLOWED)
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "tsunagi.store": ("tsunagi.services", "tsunagi.pipes", "tsunagi.gateway", "tsunagi.protocol", "tsunagi.ports",
                      "tsunagi.runtime", "tsunagi.server", "tsunagi.cli", "tsunagi.commands"),
    "tsunagi.protocol": ("tsunagi.services", "tsunagi.pipes", "tsunagi.gateway", "tsunagi.store", "tsunagi.ports",
                         "tsunagi.runtime", "tsunagi.server", "tsunagi.cli", "tsunagi.commands"),
    "tsunagi.runtime": ("tsunagi.services", "tsunagi.pipes", "tsunagi.gateway", "tsunagi.store", "tsunagi.ports",
                        "tsunagi.protocol", "tsunagi.server", "tsunagi.cli", "tsunagi.commands"),
    "tsunagi.ports": ("tsunagi.services", "tsunagi.pipes", "tsunagi.gateway", "tsunagi.protocol", "tsunagi.runtime",
                      "tsunagi.server", "tsunagi.cli", "tsunagi.commands"),
    "tsunagi.services": ("tsunagi.pipes", "tsunagi.gateway", "tsunagi.protocol", "tsunagi.server", "tsunagi.cli",
                         "tsunagi.commands"),
    "tsunagi.pipes": ("tsunagi.gateway", "tsunagi.services", "tsunagi.server", "tsunagi.cli", "tsunagi.commands"),
    "tsunagi.gateway": ("tsunagi.pipes", "tsunagi.runtime", "tsunagi.cli", "tsunagi.commands"),
    # the one policy evaluator: pure functions, nothing from tsunagi beyond ids and clock
    "tsunagi.policy": ("tsunagi.services", "tsunagi.pipes", "tsunagi.gateway", "tsunagi.protocol", "tsunagi.store",
                       "tsunagi.ports", "tsunagi.runtime", "tsunagi.server", "tsunagi.cli", "tsunagi.commands",
                       "tsunagi.filters", "tsunagi.context", "tsunagi.trace", "tsunagi.config", "tsunagi.streams"),
    "tsunagi.filters": ("tsunagi.services", "tsunagi.pipes", "tsunagi.gateway", "tsunagi.protocol", "tsunagi.store",
                        "tsunagi.ports", "tsunagi.runtime", "tsunagi.server"),
}
for _leaf in ("tsunagi.context", "tsunagi.trace", "tsunagi.ids", "tsunagi.clock", "tsunagi.config"):
    FORBIDDEN[_leaf] = ("tsunagi.services", "tsunagi.pipes", "tsunagi.gateway", "tsunagi.protocol", "tsunagi.store",
                        "tsunagi.ports", "tsunagi.runtime", "tsunagi.server", "tsunagi.cli", "tsunagi.commands",
                        "tsunagi.filters")

# (importing layer, imported prefix) pairs allowed although a rule above forbids their wider prefix.
ALLOWED: set[tuple[str, str]] = {
    ("tsunagi.services", "tsunagi.protocol.errors"),    # ServiceError: AWS's error contract, no wire
    ("tsunagi.pipes", "tsunagi.protocol.errors"),
    ("tsunagi.pipes", "tsunagi.services.base"),         # the Platform handle
    ("tsunagi.ports", "tsunagi.protocol.errors"),
}

# Imports across a boundary that the platform-seams work has not removed yet. Each entry is
# "importing module -> imported module". This list only shrinks; the seams issue ends with it empty.
PENDING: set[str] = set()


def _layer(module: str, table: dict[str, tuple[str, ...]]) -> str | None:
    best = None
    for prefix in table:
        if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > len(best)):
            best = prefix
    return best


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, module: str) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)] if node.level > 1 else base
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            out.append((node.lineno, target))
            # ``from tsunagi import pipes`` imports the submodule
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                rel = Path(*sub.split("."))
                if (SRC / rel).is_dir() or (SRC / rel.with_suffix(".py")).exists():
                    out.append((node.lineno, sub))
    return out


def _violations() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        layer = _layer(module, FORBIDDEN)
        if layer is None:
            continue
        for line, imported in _imports(path, module):
            if not imported.startswith("tsunagi"):
                continue
            banned = [p for p in FORBIDDEN[layer] if imported == p or imported.startswith(p + ".")]
            if not banned:
                continue
            if any(layer == lay and (imported == ok or imported.startswith(ok + "."))
                   for lay, ok in ALLOWED):
                continue
            # a service may import its own package and the shared base, never another service
            found.append((f"{path.relative_to(SRC.parent)}:{line}", module, imported))
    # within services: no service imports another service
    for path in sorted((PACKAGE / "services").rglob("*.py")):
        module = _module_name(path)
        parts = module.split(".")
        if len(parts) < 3:
            continue
        own = ".".join(parts[:3])
        for line, imported in _imports(path, module):
            if not imported.startswith("tsunagi.services."):
                continue
            other = ".".join(imported.split(".")[:3])
            if other in (own, "tsunagi.services.base", "tsunagi.services.registry") or imported == "tsunagi.services":
                continue
            if module == "tsunagi.services.registry":
                continue
            found.append((f"{path.relative_to(SRC.parent)}:{line}", module, imported))
    return [f"{where}: {module} -> {imported}" for where, module, imported in found
            if f"{module} -> {imported}" not in PENDING]


def test_no_forbidden_imports() -> None:
    bad = _violations()
    assert not bad, "forbidden imports across layers:\n" + "\n".join(bad)


def test_pending_exceptions_still_exist() -> None:
    """An entry in PENDING that no longer happens must be removed from the list."""
    saved = set(PENDING)
    PENDING.clear()
    try:
        current = {line.split(": ", 1)[1] for line in _violations()}
    finally:
        PENDING.update(saved)
    stale = sorted(saved - current)
    assert not stale, "PENDING lists imports that are gone; remove them:\n" + "\n".join(stale)
