"""Go rules: captures, suicide, ko and snapback, merged liberties, legal moves, and the
incremental state against a plain flood-fill reference over long random games."""

import numpy as np
import pytest

import kcnn.go as go
from go_reference import RefBoard


def position(rows, to_play=go.BLACK):
    return go.GoState.from_board(rows, to_play=to_play)


def test_capture_of_one_stone_frees_its_point():
    s = position(["..X..",
                  ".XOX.",
                  ".....",
                  ".....",
                  "....."])
    assert s.liberties((1, 2)) == 1
    assert s.play((2, 2)) == 1
    assert s.board[1, 2] == go.EMPTY
    assert s.captures == {go.BLACK: 1, go.WHITE: 0}
    # the capturing stone gained the freed point as a liberty: (1,2), (2,1), (2,3), (3,2)
    assert s.liberty_points((2, 2)) == [(1, 2), (2, 1), (2, 3), (3, 2)]
    assert s.liberties((1, 1)) == 4   # (0,1), (1,0), (2,1) and the freed (1,2)


def test_one_move_captures_several_groups():
    s = position(["XOO.OX",
                  ".XX.X.",
                  "......",
                  "......",
                  "......",
                  "......"])
    assert s.liberties((0, 1)) == 1 and s.liberties((0, 4)) == 1
    assert s.play((0, 3)) == 3
    assert [s.board[0, c] for c in range(6)] == [go.BLACK, 0, 0, go.BLACK, 0, go.BLACK]
    assert s.liberties((0, 0)) == 2                       # (0,1) and (1,0)
    assert s.liberties((1, 1)) == 6                       # (0,1) (0,2) (1,0) (1,3) (2,1) (2,2)
    assert s.liberties((0, 3)) == 3                       # (0,2) (0,4) (1,3)
    assert s.liberties((0, 5)) == 2                       # the freed (0,4) and (1,5)
    assert s.group((0, 5)) == [(0, 5)]


def test_suicide_is_refused_and_leaves_the_state_unchanged():
    s = position([".X...",
                  "X.X..",
                  ".X...",
                  ".....",
                  "....."], to_play=go.WHITE)
    before = s.copy()
    assert not s.is_legal((1, 1))
    with pytest.raises(go.IllegalMoveError, match="suicide"):
        s.play((1, 1))
    np.testing.assert_array_equal(s.grid, before.grid)
    np.testing.assert_array_equal(s.meta, before.meta)
    # several stones: white (1,1) has one liberty, filling it kills the pair
    s = position(["XXX..",
                  "XO.X.",
                  "XXX..",
                  ".....",
                  "....."], to_play=go.WHITE)
    assert not s.is_legal((1, 2))
    # the same shape is legal when it captures
    s = position([".XO..",
                  "X.XO.",
                  ".XO..",
                  ".....",
                  "....."], to_play=go.WHITE)
    assert s.is_legal((1, 1))
    assert s.play((1, 1)) == 1


KO = [".XO..",
      "X.XO.",
      ".XO..",
      ".....",
      "....."]


def test_ko_forbids_the_immediate_retake_for_one_turn():
    s = position(KO, to_play=go.WHITE)
    assert s.play((1, 1)) == 1          # white takes the ko
    assert s.ko == (1, 2)
    assert not s.is_legal((1, 2))
    with pytest.raises(go.IllegalMoveError, match="ko"):
        s.play((1, 2))
    s.play((4, 4))                      # black plays elsewhere (a ko threat)
    s.play((4, 0))                      # white answers
    assert s.ko is None and s.is_legal((1, 2))
    assert s.play((1, 2)) == 1          # black retakes; now white must wait
    assert s.ko == (1, 1) and not s.is_legal((1, 1))


def test_a_pass_lifts_the_ko_ban():
    s = position(KO, to_play=go.WHITE)
    s.play((1, 1))
    s.play(None)
    s.play(None)
    assert s.is_legal((1, 2))


def test_snapback_is_not_ko():
    s = position(["O..OX",
                  "OOOOX",
                  "XXXXX",
                  ".....",
                  "....."])
    assert s.liberties((0, 0)) == 2
    s.play((0, 1))                      # black throws in: the white group is in atari
    assert s.liberties((0, 0)) == 1 and s.liberties((0, 1)) == 1
    assert s.play((0, 2)) == 1          # white takes the single stone...
    assert s.ko is None
    assert s.liberties((0, 0)) == 1
    assert s.play((0, 1)) == 7          # ...and black takes back seven at once


def test_liberties_of_merged_groups_count_shared_points_once():
    s = position([".....",
                  ".X.X.",
                  ".....",
                  ".....",
                  "....."])
    s.play((1, 2))
    assert s.group((1, 1)) == [(1, 1), (1, 2), (1, 3)]
    assert s.liberties((1, 1)) == 8
    s = position(["X....",
                  ".X...",
                  ".....",
                  ".....",
                  "....."])
    s.play((0, 1))
    assert s.liberty_points((0, 0)) == [(0, 2), (1, 0), (1, 2), (2, 1)]


def test_orientation_of_points_and_out_of_board_moves():
    s = go.GoState(19)
    s.play((3, 15))
    assert s.board[3, 15] == go.BLACK and s.to_play == go.WHITE
    with pytest.raises(go.IllegalMoveError, match="must lie on the 19x19 board"):
        s.play((19, 0))
    with pytest.raises(go.IllegalMoveError, match="occupied"):
        s.play((3, 15))


def test_copies_are_independent():
    s = position(KO, to_play=go.WHITE)
    t = s.copy()
    t.play((1, 1))
    assert s.board[1, 2] == go.BLACK and t.board[1, 2] == go.EMPTY
    assert s.ko is None


def _check_against_reference(state, ref, legal=True):
    n = state.size
    assert state.board.tolist() == ref.board
    assert state.to_play == ref.to_play
    seen = set()
    for r in range(n):
        for c in range(n):
            if ref.board[r][c] == go.EMPTY:
                assert state.liberties((r, c)) == 0
            elif (r, c) not in seen:
                group = ref.group(r, c)
                seen |= group
                assert set(state.group((r, c))) == group
                libs = len(ref.liberties(group))
                assert all(state.liberties(p) == libs for p in group)
    if legal:
        brute = np.array([[ref.legal((r, c)) for c in range(n)] for r in range(n)])
        np.testing.assert_array_equal(state.legal_moves(), brute)


@pytest.mark.parametrize("size, seed, moves, every, min_captures", [
    (7, 1, 500, 2, 300), (9, 1, 500, 4, 300), (19, 1, 300, 25, 5)])
def test_incremental_state_equals_recomputation_over_long_random_games(size, seed, moves,
                                                                       every, min_captures):
    """Groups and liberties after every move, legal moves every few moves."""
    game = go.random_game(size, moves, seed=seed, pass_probability=0.01)
    assert len(game.moves) == moves
    ref = RefBoard(size)
    captures = 0
    for i, (state, move) in enumerate(go.replay(game, copy=False)):
        _check_against_reference(state, ref, legal=i % every == 0)
        assert ref.legal(move), move
        before = sum(v != 0 for row in ref.board for v in row)
        ref.play(move)
        captures += before + (move is not None) - sum(v != 0 for row in ref.board for v in row)
    state = go.final_state(game)
    _check_against_reference(state, ref)
    assert sum(state.captures.values()) == captures
    assert captures >= min_captures   # the games do capture, many times


def test_stone_ages_count_moves_and_passes():
    s = go.GoState(5)
    s.setup(black=[(4, 4)])
    s.play((0, 0))
    s.play(None)
    s.play((1, 1))
    age = s.stone_age()
    assert age[1, 1] == 1 and age[0, 0] == 3
    assert age[4, 4] > 8 and age[2, 2] == 0


def test_setup_rejects_dead_groups_and_bad_input():
    s = go.GoState(3)
    with pytest.raises(go.IllegalMoveError, match="without liberties"):
        s.setup(black=[(0, 0)], white=[(0, 1), (1, 0)])
    with pytest.raises(ValueError, match="size"):
        go.GoState(27)
    with pytest.raises(ValueError, match="colour"):
        go.GoState(5).play((0, 0), colour="red")
