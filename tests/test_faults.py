"""benchmarks/check_faults.py on tiny inputs: SIGKILL at random moments never leaves half an output, a rerun
finishes with the uninterrupted run's result, and a second run into the same --out stops with one line."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import check_faults

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fault_root(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("faults")
    check_faults.build_inputs(root, genes=60)
    return root, check_faults.commands(root)


@pytest.mark.parametrize("name", ["promoters", "expression", "pretrain"])
def test_killed_runs_leave_old_or_new_output_and_rerun_matches(fault_root, name):
    root, specs = fault_root
    result = check_faults.kill_check(name, specs[name], root, kills=3, rng=random.Random(7))
    assert "error" not in result, result
    assert result["half"] == 0, result["half_detail"]
    assert result["unchanged"] + result["complete_new"] == 3
    assert result["rerun_ok"] and result["rerun_equal"], result
    assert result["leftovers"] == [], result


def test_second_writer_stops_with_one_line(fault_root):
    root, specs = fault_root
    result = check_faults.concurrent_check("pretrain", specs["pretrain"], root)
    assert result["lock_seen"], result
    assert result["first_exit"] == 0
    assert result["second_exit"] == 1 and result["second_one_line"] and result["says_another_run"], result


def test_full_disk_is_one_line_and_keeps_the_earlier_output(fault_root):
    root, specs = fault_root
    result = check_faults.full_disk_check("promoters", specs["promoters"], root, size_kb=64)
    if "skipped" in result:
        pytest.skip(result["skipped"])
    assert result["exit"] == 1 and result["one_line"] and result["says_no_space"], result
    assert result["earlier_intact"], result
