"""Converter (shards, split by game, skipped records, workers) and the tf.data pipeline."""


import numpy as np
import pytest

import kcnn.go as go
from test_go_sgf import make_collection


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    root = tmp_path_factory.mktemp("sgf")
    games = make_collection(root)
    out = tmp_path_factory.mktemp("shards")
    with pytest.warns(go.SgfWarning) as record:
        meta = go.convert(root, out, board_size=9, test_fraction=0.4, seed=1, shard_size=50,
                          workers=1, progress=False)
    return root, out, games, meta, [str(w.message) for w in record]


def test_skipped_records_are_warned_about_with_file_and_move_and_counted(converted):
    _, _, _, meta, messages = converted
    assert len(meta["skipped"]) == 2 == len(messages)
    assert any("broken.sgf" in m for m in messages)
    assert any("illegal.sgf: move 4 (W[cc])" in m for m in messages)
    assert meta["records"] == 7


def test_shards_hold_the_features_and_labels_of_every_move_split_by_game(converted):
    _, out, games, meta, _ = converted
    assert len(meta["games"]) == 6
    splits = {g["split"] for g in meta["games"]}
    assert splits == {"train", "test"}
    positions = {}
    for split in ("train", "test"):
        x, labels, ids, outcomes = go.read_split(out, split, planes=49)
        assert len(labels) == meta["splits"][split]["positions"]
        assert all(meta["games"][i]["split"] == split for i in np.unique(ids))
        for i in np.unique(ids):
            positions[int(i)] = (x[ids == i], labels[ids == i], outcomes[ids == i])
    assert len(meta["splits"]["train"]["files"]) > 1          # shard_size=50 rotates files
    by_moves = {tuple(g.moves): g for g in games}
    for gid, info in enumerate(meta["games"]):
        assert len(positions[gid][1]) == info["positions"]
    # recompute one game completely and compare every record
    for gid, info in enumerate(meta["games"]):
        if info["name"].endswith("a.sgf"):
            game = go.read_sgf(info["name"])
            expected = [(go.features(s, 49), m[0] * 9 + m[1], s.to_play)
                        for s, m in go.replay(game) if m is not None]
            xs, ys, zs = positions[gid]
            assert len(expected) == len(ys) and tuple(game.moves) in by_moves
            for (fx, label, mover), x, y, z in zip(expected, xs, ys, zs):
                np.testing.assert_array_equal(x, fx)
                assert y == label
                assert z == (1 if game.winner == ("b" if mover == go.BLACK else "w") else -1)


def test_split_is_stable_and_workers_write_the_same_bytes(converted, tmp_path):
    root, out, _, meta, _ = converted
    again = tmp_path / "again"
    with pytest.warns(go.SgfWarning):
        meta2 = go.convert(root, again, board_size=9, test_fraction=0.4, seed=1,
                           shard_size=50, workers=2, progress=False)
    assert meta2["games"] == meta["games"]
    for split in ("train", "test"):
        for f in meta["splits"][split]["files"]:
            assert (again / f).read_bytes() == (out / f).read_bytes()
    with pytest.raises(FileExistsError, match="overwrite"):
        go.convert(root, again, board_size=9, progress=False)


def test_pipeline_decodes_records_and_applies_consistent_random_symmetries(converted):
    import tensorflow as tf

    _, out, _, meta, _ = converted
    x, labels, _, _ = go.read_split(out, "train")
    assert x.shape[1:] == (9, 9, 48)
    plain = go.dataset(out, "train", batch_size=32, shuffle=False, symmetries=False)
    px = np.concatenate([b[0].numpy() for b in plain])
    py = np.concatenate([b[1].numpy() for b in plain])
    assert px.dtype == np.float32
    np.testing.assert_array_equal(px, x)
    np.testing.assert_array_equal(py, labels)
    aug = go.dataset(out, "train", batch_size=32, shuffle=False, symmetries=True, seed=3)
    ax = np.concatenate([b[0].numpy() for b in aug])
    ay = np.concatenate([b[1].numpy() for b in aug])
    used = set()
    for i in range(len(ax)):
        ks = [k for k in range(8) if np.array_equal(ax[i], go.transform(x[i], k))
              and ay[i] == go.transform_label(labels[i], k, 9)]
        assert ks, i
        used.add(ks[0] if len(ks) == 1 else None)
    assert len(used - {None}) >= 6            # many different symmetries were drawn
    sub = next(iter(go.dataset(out, "test", planes="history", batch_size=4)))
    assert sub[0].shape == (4, 9, 9, 12) and sub[1].dtype == tf.int32
    value = next(iter(go.dataset(out, "test", planes=49, target="outcome", batch_size=4)))
    assert set(np.unique(value[1].numpy())) <= {-1.0, 1.0}
    assert np.all(value[0].numpy()[..., 48] == value[0].numpy()[:, :1, :1, 48])


def test_shuffled_repeating_pipeline_and_bad_arguments(converted, tmp_path):
    _, out, _, meta, _ = converted
    ds = go.dataset(out, "train", batch_size=16, repeat=True, drop_remainder=True, seed=0)
    batches = [b for _, b in zip(range(12), ds)]
    assert all(b[0].shape == (16, 9, 9, 48) for b in batches)
    with pytest.raises(ValueError, match="planes"):
        go.dataset(out, planes=50)
    with pytest.raises(FileNotFoundError, match="metadata"):
        go.dataset(tmp_path)
    with pytest.raises(ValueError, match="split"):
        go.read_split(out, "validation")
