"""The layout's rules hold: contracts/ at the bottom, the engine free of the platform, services that
never import each other, a kit that imports no service, a domain without infrastructure. The rules
are import-linter contracts in pyproject.toml ([tool.importlinter]); this runs them, so `pytest`
(the README's test command) fails on an import that breaks one, naming the import."""

from __future__ import annotations

import os
from pathlib import Path

from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[2]


def test_the_import_contracts_in_pyproject_are_kept(capsys) -> None:
    cwd = os.getcwd()
    os.chdir(ROOT)  # import-linter reads pyproject.toml from the working directory
    try:
        code = lint_imports(no_cache=True, no_logo=True)
    finally:
        os.chdir(cwd)
    report = capsys.readouterr().out
    assert code == 0, report
    assert "6 kept, 0 broken" in report  # every contract was checked
