"""The documentation cannot drift from the code: every variable `portal/config.py` reads is in
docs/configuration.md, and nothing in the project depends on files outside it."""
from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CONFIG_SOURCE = REPO / "portal" / "config.py"
CONFIGURATION_DOC = REPO / "docs" / "configuration.md"
ENV_NAMES = {"env", "environ"}  # what portal/config.py calls the environment mapping


def variables_read(source: str) -> set[str]:
    """Names read from the environment mapping: `env.get("X")`, `env["X"]`, or `helper(env, "X", …)`."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            func = node.func
            if (isinstance(func, ast.Attribute) and func.attr == "get" and isinstance(func.value, ast.Name)
                    and func.value.id in ENV_NAMES and node.args and isinstance(node.args[0], ast.Constant)):
                names.add(node.args[0].value)
            else:  # the name is the argument right after the mapping; later ones are defaults
                for mapping, name in zip(node.args, node.args[1:]):
                    if isinstance(mapping, ast.Name) and mapping.id in ENV_NAMES and isinstance(name, ast.Constant):
                        names.add(name.value)
        elif (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id in ENV_NAMES
              and isinstance(node.slice, ast.Constant)):
            names.add(node.slice.value)
    return {name for name in names if re.fullmatch(r"[A-Z][A-Z0-9_]+", name)}


def documented_variables(markdown: str) -> set[str]:
    """Every `NAME` in the first column of a table row."""
    names = set()
    for line in markdown.splitlines():
        if line.startswith("| `"):
            names.update(re.findall(r"`([A-Z][A-Z0-9_]+)`", line.split(" | ")[0]))
    return names


def test_the_scan_finds_the_ways_config_reads_a_variable():
    source = ('def f(env):\n    env.get("A_B")\n    _int(env, "C_D", 3)\n    _choice(env, "G_H", "DEFAULT")\n'
              '    env["E_F"]\n    other.get("NO")\n')
    assert variables_read(source) == {"A_B", "C_D", "E_F", "G_H"}


def test_every_configuration_variable_is_documented():
    read = variables_read(CONFIG_SOURCE.read_text())
    assert {"SECRET_KEY", "DATABASE_URL", "PAYMENT_RETRY_ATTEMPTS", "PORTAL_INSTANCE_PATH"} <= read
    missing = read - documented_variables(CONFIGURATION_DOC.read_text())
    assert not missing, f"add a row to docs/configuration.md for: {', '.join(sorted(missing))}"


def test_nothing_points_outside_the_project():
    """The suite and the docs stand alone: no path into the team's sibling spec folder."""
    sibling = "/".join(("..", "shared"))  # spelled in parts so this guard does not name the path itself
    offenders = []
    for path in REPO.rglob("*"):
        if (path.is_file() and path.suffix in {".py", ".md", ".txt", ".ini", ".cfg", ".toml", ".html"}
                and not {".git", ".venv", "node_modules"} & set(path.relative_to(REPO).parts)
                and path != Path(__file__).resolve()):
            text = path.read_text(errors="replace")
            if sibling in text or "/".join(("shared", "reference")) in text:
                offenders.append(str(path.relative_to(REPO)))
    assert not offenders, offenders
