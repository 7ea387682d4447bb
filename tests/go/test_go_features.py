"""The 48 (49) feature planes on hand-built positions with hand-computed expectations, and
every plane against the plain-Python reference on random and real games."""

import glob
import importlib
import os

import numpy as np
import pytest

import kcnn.go as go
from go_reference import RefBoard
from go_reference import features as reference_features

features_module = importlib.import_module("kcnn.go.planes")

CAPTURE, SELF_ATARI, LIBS_AFTER, LIBERTIES, TURNS = 20, 28, 36, 12, 4
LADDER_CAPTURE, LADDER_ESCAPE, SENSIBLE = 44, 45, 46


def position(rows, to_play=go.BLACK):
    return go.GoState.from_board(rows, to_play=to_play)


def marked(f, plane):
    return sorted(map(tuple, np.argwhere(f[:, :, plane]).tolist()))


def family(f, start, point):
    """The value (1-8, 8 meaning 8 or more) of an 8-plane family at a point, 0 if unset."""
    hot = np.flatnonzero(f[point[0], point[1], start:start + 8])
    assert len(hot) <= 1
    return int(hot[0]) + 1 if len(hot) else 0


def test_stone_colour_ones_zeros_and_player_colour_are_relative_to_the_mover():
    rows = ["X....",
            ".O...",
            ".....",
            ".....",
            "....."]
    for to_play, mine, theirs in ((go.BLACK, (0, 0), (1, 1)), (go.WHITE, (1, 1), (0, 0))):
        f = go.features(position(rows, to_play), planes=49)
        assert f.shape == (5, 5, 49) and f.dtype == np.uint8
        assert marked(f, 0) == [mine] and marked(f, 1) == [theirs]
        assert f[:, :, 2].sum() == 23 and f[0, 0, 2] == 0
        assert f[:, :, 3].all() and not f[:, :, 47].any()
        assert f[:, :, 48].all() == (to_play == go.BLACK) and f[:, :, 48].any() == f[:, :, 48].all()


def test_turns_since_newest_stone_is_one_passes_count_setup_is_oldest():
    s = go.GoState(5)
    s.setup(black=[(4, 4)])
    moves = [(0, 0), (0, 4), (2, 2), None, (1, 1), (3, 0), (3, 1), (3, 2), (3, 3), (3, 4)]
    for m in moves:
        s.play(m)
    f = go.features(s)
    # ages: (3,4) 1, (3,3) 2, (3,2) 3, (3,1) 4, (3,0) 5, (1,1) 6, pass, (2,2) 8,
    # (0,4) 9 and (0,0) 10 -> "8 or more", setup stone (4,4) -> "8 or more"
    expected = {(3, 4): 1, (3, 3): 2, (3, 2): 3, (3, 1): 4, (3, 0): 5, (1, 1): 6,
                (2, 2): 8, (0, 4): 8, (0, 0): 8, (4, 4): 8}
    for point, age in expected.items():
        assert family(f, TURNS, point) == age, point
    assert f[:, :, TURNS:TURNS + 8].sum() == len(expected)   # nothing on empty points


def test_liberties_of_each_stone_one_hot_with_eight_or_more():
    s = position([".........",
                  "X........",
                  "O........",
                  ".........",
                  "...XXX...",
                  ".........",
                  ".......O.",
                  "......OX.",
                  "........."])
    f = go.features(s)
    assert family(f, LIBERTIES, (1, 0)) == 2       # (0,0), (1,1)
    assert family(f, LIBERTIES, (2, 0)) == 2       # (2,1), (3,0)
    assert all(family(f, LIBERTIES, (4, c)) == 8 for c in (3, 4, 5))   # 8 liberties
    assert family(f, LIBERTIES, (6, 7)) == 3
    assert family(f, LIBERTIES, (7, 6)) == 3
    assert family(f, LIBERTIES, (7, 7)) == 2       # (7,8), (8,7)
    assert f[:, :, LIBERTIES:LIBERTIES + 8].sum() == 8


CAPTURES = ["...X...",
            "..XOX..",
            ".......",
            ".......",
            "X......",
            "OXXX.XX",
            "OOOOOOO"]


def test_capture_size_counts_opponent_stones_and_zero_sets_no_plane():
    f = go.features(position(CAPTURES))
    assert family(f, CAPTURE, (2, 3)) == 1
    assert family(f, CAPTURE, (5, 4)) == 8         # eight stones: "8 or more"
    assert f[:, :, CAPTURE:CAPTURE + 8].sum() == 2
    # liberties after the capturing moves count the freed points
    assert family(f, LIBS_AFTER, (2, 3)) == 4      # (1,3) freed, (2,2), (2,4), (3,3)
    assert family(f, LIBS_AFTER, (5, 4)) == 8      # 13 liberties
    assert family(f, LIBS_AFTER, (0, 0)) == 2
    assert family(f, LIBS_AFTER, (0, 2)) == 4      # joins (0,3), (1,2): (0,1) (0,4) (1,1) (2,2)
    # every legal move has exactly one liberties-after-move plane
    legal = go.features(position(CAPTURES))[:, :, LIBS_AFTER:LIBS_AFTER + 8].sum(-1)
    np.testing.assert_array_equal(legal.astype(bool), position(CAPTURES).legal_moves())


def test_self_atari_size_counts_the_new_group_after_captures():
    s = position([".OX..",
                  "OXXO.",
                  ".OO..",
                  ".....",
                  "....."])
    f = go.features(s)
    # (0,3) joins the three black stones and leaves one liberty, (0,4): size 4
    assert family(f, SELF_ATARI, (0, 3)) == 4 and family(f, LIBS_AFTER, (0, 3)) == 1
    # (0,0) captures (0,1) but keeps one liberty (the freed point): size 1, capture 1
    assert family(f, SELF_ATARI, (0, 0)) == 1 and family(f, CAPTURE, (0, 0)) == 1
    # (2,0) between two white stones: one liberty (3,0)
    assert family(f, SELF_ATARI, (2, 0)) == 1
    assert marked(f, SELF_ATARI) + marked(f, SELF_ATARI + 3) == [(0, 0), (2, 0), (0, 3)]
    assert f[:, :, SELF_ATARI:SELF_ATARI + 8].sum() == 3


def test_sensibleness_excludes_own_eyes_but_not_false_eyes_and_illegal_points_are_empty():
    s = position([".X.X.O.",
                  "XXXXX..",
                  "..OXO..",
                  "..X.X..",
                  "..OXX..",
                  ".......",
                  "......."])
    f = go.features(s)
    assert f[0, 0, SENSIBLE] == 0       # corner eye
    assert f[0, 2, SENSIBLE] == 0       # edge eye, no opponent diagonal
    assert f[3, 3, SENSIBLE] == 1       # two opponent diagonals: a false eye
    assert f[0, 4, SENSIBLE] == 1       # not surrounded
    # the ko point and suicide points have no move features at all
    ko = position([".XO..",
                   "X.XO.",
                   ".XO..",
                   ".....",
                   "....."], to_play=go.WHITE)
    ko.play((1, 1))
    f = go.features(ko)
    assert ko.ko == (1, 2)
    assert not f[1, 2, CAPTURE:47].any()
    assert f[1, 1, 0] == 0 and f[1, 1, 1] == 1     # white's stone, seen from black
    suicide = position([".X...",
                        "X.X..",
                        ".X...",
                        ".....",
                        "....."], to_play=go.WHITE)
    assert not go.features(suicide)[1, 1, CAPTURE:47].any()


# A white stone at (2,2) that black can chase down a ladder to the lower right corner.
LADDER = [".........",
          "..X......",
          ".XO......",
          ".X.......",
          ".........",
          ".........",
          ".........",
          ".........",
          "........."]


def with_stone(rows, point, colour):
    rows = list(rows)
    r, c = point
    rows[r] = rows[r][:c] + colour + rows[r][c + 1:]
    return rows


def test_ladder_capture_that_works():
    f = go.features(position(LADDER))
    # (2,3) ataris; white's extension at (3,2) gets two liberties every time down the
    # diagonal until the corner. (3,2) instead lets white extend to three liberties.
    assert marked(f, LADDER_CAPTURE) == [(2, 3)]


def test_ladder_capture_broken_by_a_ladder_breaker():
    f = go.features(position(with_stone(LADDER, (6, 6), "O")))
    assert marked(f, LADDER_CAPTURE) == []


def test_ladder_escape_fails_in_a_working_ladder_and_succeeds_with_a_breaker():
    atari = with_stone(LADDER, (2, 3), "X")
    f = go.features(position(atari, to_play=go.WHITE))
    assert marked(f, LADDER_ESCAPE) == []
    f = go.features(position(with_stone(atari, (6, 6), "O"), to_play=go.WHITE))
    assert marked(f, LADDER_ESCAPE) == [(3, 2)]


def test_ladder_escape_by_capturing_a_chasing_stone():
    # the chasing stone (2,3) is itself in atari: white takes it at (3,3)
    rows = with_stone(with_stone(with_stone(LADDER, (2, 3), "X"), (1, 3), "O"), (2, 4), "O")
    s = position(rows, to_play=go.WHITE)
    assert s.liberties((2, 3)) == 1 and s.liberties((2, 2)) == 1
    f = go.features(s)
    assert f[3, 3, LADDER_ESCAPE] == 1 and family(f, CAPTURE, (3, 3)) == 1


def test_ladder_search_that_runs_out_of_depth_counts_as_an_escape(monkeypatch):
    monkeypatch.setattr(features_module, "LADDER_DEPTH", 6)
    assert marked(go.features(position(LADDER)), LADDER_CAPTURE) == []
    atari = with_stone(LADDER, (2, 3), "X")
    assert marked(go.features(position(atari, to_play=go.WHITE)), LADDER_ESCAPE) == [(3, 2)]
    monkeypatch.setattr(features_module, "LADDER_DEPTH", 120)
    monkeypatch.setattr(features_module, "LADDER_NODES", 3)
    assert marked(go.features(position(LADDER)), LADDER_CAPTURE) == []


@pytest.mark.parametrize("planes, count", [("raw", 4), ("history", 12), ("liberties", 20),
                                           (48, 48), ("value", 49), (20, 20)])
def test_feature_subsets_are_the_first_planes(planes, count):
    game = go.random_game(9, 60, seed=5)
    state = go.final_state(game)
    full = go.features(state, planes=49)
    sub = go.features(state, planes=planes)
    assert sub.shape == (9, 9, count)
    np.testing.assert_array_equal(sub, full[:, :, :count])


def test_bad_plane_counts_are_rejected():
    with pytest.raises(ValueError, match="planes"):
        go.features(go.GoState(9), planes=30)
    with pytest.raises(TypeError, match="state"):
        go.features(np.zeros((9, 9)))


def _replay_in_reference(game):
    ref = RefBoard(game.size)
    if 0 in game.setup:
        black, white, empty = game.setup[0]
        ref.setup(black, white, empty)
    for state, move in go.replay(game, copy=False):
        ref.to_play = state.to_play
        yield state, ref
        ref.play(move)


@pytest.mark.parametrize("size, seed, moves, every", [(7, 11, 200, 1), (9, 12, 300, 2)])
def test_every_plane_matches_the_reference_on_random_games(size, seed, moves, every):
    game = go.random_game(size, moves, seed=seed, pass_probability=0.02, handicap=2)
    seen = np.zeros(49, bool)
    for i, (state, ref) in enumerate(_replay_in_reference(game)):
        if i % every:
            continue
        f = go.features(state, planes=49)
        np.testing.assert_array_equal(f, np.array(reference_features(ref, 49), np.uint8),
                                      err_msg=f"move {i}\n{state}")
        seen |= f.any(axis=(0, 1))
    # the games exercise most planes (the rare 8-or-more ones aside)
    assert seen[[LADDER_CAPTURE, LADDER_ESCAPE, CAPTURE, SELF_ATARI + 1]].all()


def test_every_plane_matches_the_reference_on_real_games(shared_dir):
    paths = sorted(glob.glob(os.path.join(shared_dir, "data", "go", "*.sgf")))
    assert paths
    seen = np.zeros(48, bool)
    for path in paths:
        game = go.read_sgf(path)
        for i, (state, ref) in enumerate(_replay_in_reference(game)):
            if i % 30 != 29:
                continue
            f = go.features(state)
            np.testing.assert_array_equal(f, np.array(reference_features(ref), np.uint8),
                                          err_msg=f"{path} move {i + 1}")
            seen |= f.any(axis=(0, 1))
    assert seen[[LADDER_CAPTURE, LADDER_ESCAPE, CAPTURE, SELF_ATARI]].all()
