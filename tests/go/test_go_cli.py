"""``kcnn go convert`` through kcnn.go.cli.main."""

import json
import os

import kcnn.go as go
from kcnn.go.cli import main


def test_convert_command_writes_shards_and_reports(tmp_path, capsys):
    go.write_random_games(tmp_path / "sgf", 4, size=9, num_moves=30, seed=0)
    (tmp_path / "sgf" / "broken.sgf").write_bytes(b"(;SZ[9];B[")
    code = main(["convert", str(tmp_path / "sgf"), str(tmp_path / "out"), "--board-size", "9",
                 "--planes", "liberties", "--workers", "1", "--test-fraction", "0.5"])
    assert code == 0
    out, err = capsys.readouterr()
    assert "4 games, 1 skipped" in out
    assert "warning: skipped" in err and "broken.sgf" in err and "5/5 records" in err
    meta = json.loads((tmp_path / "out" / "metadata.json").read_text())
    assert meta["planes"] == 20 and meta["board_size"] == 9
    assert meta["splits"]["train"]["positions"] + meta["splits"]["test"]["positions"] == 120


def test_convert_command_errors_exit_with_code_2(tmp_path, capsys):
    assert main(["convert", str(tmp_path / "missing"), str(tmp_path / "out"), "--quiet"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["convert", str(tmp_path), str(tmp_path / "out"), "--planes", "7"]) == 2


def test_convert_warns_of_an_empty_test_split_and_names_the_overwrite_flag(tmp_path, capsys):
    go.write_random_games(tmp_path / "sgf", 3, size=9, num_moves=10, seed=0)
    argv = ["convert", str(tmp_path / "sgf"), str(tmp_path / "out"), "--board-size", "9",
            "--planes", "liberties", "--workers", "1", "--quiet"]
    assert main(argv) == 0
    meta = json.loads((tmp_path / "out" / "metadata.json").read_text())
    assert meta["splits"]["test"]["games"] == 0 and meta["splits"]["train"]["games"] == 3
    err = capsys.readouterr().err
    assert "warning: the test split is empty: none of the 3 games was held out" in err
    assert "needs about 30 games" in err and "--test-fraction" in err
    assert meta["warnings"] and "30 games" in meta["warnings"][0]
    # shards are renamed into place: no temporary file is left, the lock file stays hidden
    assert sorted(os.listdir(tmp_path / "out")) == [".lock", "metadata.json", "train-00000.bin"]

    assert main(argv) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(argv + ["--test-fraction", "0"]) == 2  # still refused, nothing changed
    assert main(argv + ["--overwrite", "--test-fraction", "0"]) == 0
    assert "warning" not in capsys.readouterr().err  # no test split was asked for
