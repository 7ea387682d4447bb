import subprocess
import sys

import pytest

from kcnn import cli


def test_list_prints_registry_with_counts(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert "lenet5" in out and "60,000" in out
    assert "alphago_policy" in out and "3,882,793" in out


def test_list_pattern(capsys):
    assert cli.main(["list", "lenet*"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [l.split()[0] for l in lines[1:]] == ["lenet5", "lenet5_modern"]
    assert cli.main(["list", "nothing*"]) == 1


def test_no_command_prints_help(capsys):
    assert cli.main([]) == 2
    assert "summary" in capsys.readouterr().out


def test_console_entry_point_runs():
    proc = subprocess.run([sys.executable, "-m", "kcnn", "list", "alphago*"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "alphago_value" in proc.stdout


def test_summary_unknown_model_is_a_clear_error(capsys):
    pytest.importorskip("kcnn.analysis")
    assert cli.main(["summary", "lenet55"]) == 2
    assert "Did you mean 'lenet5'" in capsys.readouterr().err
