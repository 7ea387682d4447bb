"""SGF reading: orientation, setup stones, passes, collections, folders and archives,
broken records; replay of the real records."""

import glob
import os
import tarfile
import warnings
import zipfile

import pytest

import kcnn.go as go

# Written by hand: SGF letters are column then row, both from the top-left corner.
ORIENTATION = b"""(;GM[1]FF[4]SZ[19]KM[6.5]RE[B+R]PB[Black]PW[White]
AB[dp]AW[qc]
;B[pd];W[dd];B[];W[tt];B[pp])"""


def test_orientation_first_move_and_setup_stone(tmp_path):
    path = tmp_path / "orientation.sgf"
    path.write_bytes(ORIENTATION)
    game = go.read_sgf(path)
    assert game.size == 19
    assert game.setup[0] == ([(15, 3)], [(2, 16)], [])        # AB[dp], AW[qc]
    assert game.moves[0] == ("b", (3, 15))                   # B[pd]: column p, row d
    steps = list(go.replay(game))
    first, move = steps[0]
    assert move == (3, 15) and move[0] * 19 + move[1] == 72
    assert first.board[15, 3] == go.BLACK and first.board[2, 16] == go.WHITE
    assert first.board.sum() == go.BLACK + go.WHITE
    second, _ = steps[1]
    f = go.features(second)          # white to move: black's stone is the opponent's
    assert f[3, 15, 1] == 1 and f[3, 15, 4] == 1      # opponent stone, 1 turn since
    assert f[15, 3, 1] == 1 and f[15, 3, 11] == 1     # setup stone: 8 or more turns
    assert f[2, 16, 0] == 1


def test_passes_metadata_and_round_trip(tmp_path):
    game = go.parse_sgf(ORIENTATION, "x")[0]
    assert game.moves[2:4] == [("b", None), ("w", None)]     # B[] and W[tt]
    assert game.komi == 6.5 and game.winner == "b" and game.result == "B+R"
    assert game.properties["PB"] == "Black"
    states = [s for s, _ in go.replay(game)]
    assert states[3].to_play == go.WHITE and states[4].move_number == 4
    again = go.parse_sgf(game.to_sgf(), "again")[0]
    assert again.moves == game.moves and again.setup == game.setup
    random = go.random_game(9, 80, seed=3, handicap=3)
    back = go.parse_sgf(random.to_sgf())[0]
    assert back.moves == random.moves and back.setup == random.setup
    assert back.handicap == 3 and back.moves[0][0] == "w"
    assert go.final_state(back).board.tolist() == go.final_state(random).board.tolist()


def test_setup_in_a_later_node_is_placed_before_its_move():
    game = go.parse_sgf(b"(;SZ[9];B[cc];AW[gg]W[ee];B[dd])")[0]
    assert game.setup == {1: ([], [(6, 6)], [])}
    states = [s for s, _ in go.replay(game)]
    assert states[0].board[6, 6] == go.EMPTY and states[1].board[6, 6] == go.WHITE


def test_broken_records_raise_errors_naming_the_record_and_the_move():
    with pytest.raises(go.SgfError, match="bad.sgf"):
        go.parse_sgf(b"(;SZ[19];B[pd];W[", "bad.sgf")
    with pytest.raises(go.SgfError, match=r"coord.sgf: move 2 \(W\[zz\]\)"):
        go.parse_sgf(b"(;SZ[9];B[aa];W[zz])", "coord.sgf")
    game = go.parse_sgf(b"(;SZ[9];B[aa];W[bb];B[aa])", "illegal.sgf")[0]
    with pytest.raises(go.IllegalMoveError, match=r"illegal.sgf: move 3 \(B\[aa\]\).*occupied"):
        list(go.replay(game))
    with pytest.raises(go.SgfError, match="big.sgf: .*size"):
        go.parse_sgf(b"(;SZ[40];B[aa])", "big.sgf")


def make_collection(root):
    """A folder with loose files, a nested zip and tar.gz, a collection and broken files."""
    games = [go.random_game(9, 30 + i, seed=i) for i in range(6)]
    os.makedirs(root / "nested")
    (root / "a.sgf").write_bytes(games[0].to_sgf())
    (root / "nested" / "b.SGF").write_bytes(games[1].to_sgf())
    (root / "two.sgf").write_bytes(games[2].to_sgf() + b"\n" + games[3].to_sgf())
    with zipfile.ZipFile(root / "nested" / "kgs.zip", "w") as zf:
        zf.writestr("2016/c.sgf", games[4].to_sgf())
        zf.writestr("README.txt", "not a game")
    member = root / "d.sgf"
    member.write_bytes(games[5].to_sgf())
    with tarfile.open(root / "more.tar.gz", "w:gz") as tf:
        tf.add(member, arcname="games/d.sgf")
    member.unlink()
    (root / "broken.sgf").write_bytes(b"(;SZ[9];B[cc];W[")
    (root / "illegal.sgf").write_bytes(b"(;SZ[9];B[cc];W[dd];B[ee];W[cc])")
    (root / "notes.txt").write_text("ignored")
    return games


def test_folders_archives_and_collections_are_read_in_a_stable_order(tmp_path):
    games = make_collection(tmp_path)
    names = [os.path.relpath(name, tmp_path) for name, _ in go.iter_records(tmp_path)]
    assert names == ["a.sgf", "broken.sgf", "illegal.sgf", "more.tar.gz:games/d.sgf",
                     "two.sgf", "nested/b.SGF", "nested/kgs.zip:2016/c.sgf"]
    assert go.sgf.count_records(tmp_path) == 7
    with pytest.warns(go.SgfWarning, match="broken.sgf"):
        read = list(go.read_games(tmp_path))
    assert len(read) == 7            # 6 games + the illegal one (found when replayed)
    by_moves = {tuple(g.moves) for g in read}
    assert all(tuple(g.moves) in by_moves for g in games)
    assert any(g.name.endswith("two.sgf[1]") for g in read)


def test_the_real_records_replay_legally(shared_dir):
    paths = sorted(glob.glob(os.path.join(shared_dir, "data", "go", "*.sgf")))
    assert len(paths) >= 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for path in paths:
            game = go.read_sgf(path)
            assert game.size == 19 and len(game.moves) > 40
            state = go.final_state(game)
            assert state.move_number == len(game.moves)
    game = go.read_sgf(os.path.join(shared_dir, "data", "go", "ab_aw.sgf"))
    assert game.setup[0][:2] == ([(3, 3), (15, 15)], [(3, 15), (15, 3)])
    assert game.moves[0] == ("w", (2, 5))                    # W[fc]
    first = next(go.replay(game))[0]
    assert first.to_play == go.WHITE and first.board[3, 3] == go.BLACK
    lee = go.read_sgf(os.path.join(shared_dir, "data", "go",
                                   "Lee-Sedol-vs-AlphaGo-20160309.sgf"))
    assert lee.moves[0] == ("b", (3, 16)) and lee.winner == "w"    # B[qd]
