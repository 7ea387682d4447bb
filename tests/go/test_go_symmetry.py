"""The 8 board symmetries: points, planes and labels agree, and features commute with them."""

import glob
import os

import numpy as np
import pytest

import kcnn.go as go
from kcnn.go.sgf import Game


def explicit(point, k, n):
    """The dihedral group written out: rotations by 0, 90, 180, 270 degrees
    counter-clockwise, then the same after a transpose."""
    r, c = point
    return [(r, c), (n - 1 - c, r), (n - 1 - r, n - 1 - c), (c, n - 1 - r),
            (c, r), (n - 1 - r, c), (n - 1 - c, n - 1 - r), (r, n - 1 - c)][k]


@pytest.mark.parametrize("n", [5, 19])
def test_points_planes_and_labels_agree_with_the_explicit_group(n):
    maps = set()
    for k in range(8):
        table = []
        for p in [(r, c) for r in range(n) for c in range(n)]:
            q = go.transform_point(p, k, n)
            assert q == explicit(p, k, n)
            one = np.zeros((n, n, 1))
            one[p] = 1
            assert np.argwhere(go.transform(one, k)[..., 0]).tolist() == [list(q)]
            assert go.transform_label(p[0] * n + p[1], k, n) == q[0] * n + q[1]
            assert go.transform_point(q, go.inverse(k), n) == p
            table.append(q)
        maps.add(tuple(table))
    assert len(maps) == 8 and go.transform_point(None, 3, n) is None


def transformed_game(game, k):
    n = game.size
    t = lambda p: go.transform_point(p, k, n)   # noqa: E731
    return Game(size=n, moves=[(c, t(m)) for c, m in game.moves],
                setup={i: tuple([t(p) for p in pts] for pts in s) for i, s in game.setup.items()},
                name=f"{game.name} k={k}")


def check_commutes(game, every=1):
    n = game.size
    for k in range(8):
        pairs = zip(go.replay(game, copy=False), go.replay(transformed_game(game, k), copy=False))
        for i, ((s, move), (sk, move_k)) in enumerate(pairs):
            if i % every:
                continue
            np.testing.assert_array_equal(go.features(sk, 49),
                                          go.transform(go.features(s, 49), k))
            if move is not None:
                assert go.transform_label(move[0] * n + move[1], k, n) == \
                    move_k[0] * n + move_k[1]


def test_features_commute_with_symmetries_on_a_random_game():
    # 9x9 random games have captures, kos and ladders, and the handicap adds setup stones
    check_commutes(go.random_game(9, 120, seed=21, handicap=2), every=3)


def test_features_commute_with_symmetries_on_a_real_game(shared_dir):
    path = sorted(glob.glob(os.path.join(shared_dir, "data", "go", "*.sgf")))[1]
    game = go.read_sgf(path)
    game.moves = game.moves[:120]
    check_commutes(game, every=30)


def test_bad_symmetry_index_is_rejected():
    with pytest.raises(ValueError, match="`k`"):
        go.transform(np.zeros((3, 3, 1)), 8)
    with pytest.raises(ValueError, match="planes"):
        go.transform(np.zeros((3, 4, 1)), 1)
