"""predict_move masks illegal moves; evaluate_policy's accuracies and symmetry ensemble
against numpy computations."""

import keras
import numpy as np
import pytest

import kcnn.go as go

USES_KERAS = True


def fixed_policy(size, planes, logits):
    """A network whose output ignores the position: softmax(logits)."""
    inputs = keras.Input((size, size, planes), name="board")
    x = keras.layers.Flatten()(inputs)
    dense = keras.layers.Dense(size * size, kernel_initializer="zeros")
    outputs = keras.layers.Softmax()(dense(x))
    model = keras.Model(inputs, outputs)
    dense.bias.assign(np.asarray(logits, np.float32))
    return model


def softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


def test_predict_move_never_returns_an_illegal_point():
    s = go.GoState.from_board([".XO..",
                               "X.XO.",
                               ".XO..",
                               ".....",
                               "....."], to_play=go.WHITE)
    s.play((1, 1))                                   # white takes the ko; black to move
    logits = np.zeros(25)
    logits[1 * 5 + 2] = 9.0                          # the ko point
    logits[0 * 5 + 1] = 8.0                          # occupied
    logits[4 * 5 + 4] = 5.0                          # legal
    model = fixed_policy(5, 48, logits)
    assert go.predict_move(model, s) == (4, 4)
    probs = go.move_probabilities(model, s)
    assert probs[1, 2] == 0 and probs[0, 1] == 0 and probs.sum() == pytest.approx(1.0)
    expected = np.where(s.legal_moves().reshape(-1), softmax(logits), 0)
    np.testing.assert_allclose(probs.reshape(-1), expected / expected.sum(), rtol=1e-5)
    full = go.GoState.from_board(["X.", ".X"], to_play=go.WHITE)   # both points suicide
    assert go.predict_move(fixed_policy(2, 48, np.zeros(4)), full) is None


def test_ensemble_averages_the_network_over_the_8_symmetries():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=49) * 3
    model = fixed_policy(7, 12, logits)
    s = go.GoState(7)
    p = softmax(logits).reshape(7, 7)
    # the network sees T_k(position) and answers p at T_k(point): average p[T_k(point)]
    expected = np.zeros((7, 7))
    for k in range(8):
        for r in range(7):
            for c in range(7):
                expected[r, c] += p[go.transform_point((r, c), k, 7)] / 8
    np.testing.assert_allclose(go.move_probabilities(model, s, ensemble=True), expected,
                               rtol=1e-5)
    assert go.predict_move(model, s, ensemble=True) == np.unravel_index(expected.argmax(),
                                                                        (7, 7))


def linear_policy(size, planes, seed):
    """softmax(W . flatten(x) + b) with random W and b, and the same in numpy."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(size * size * planes, size * size)).astype(np.float32)
    b = rng.normal(size=size * size).astype(np.float32)
    inputs = keras.Input((size, size, planes), name="board")
    dense = keras.layers.Dense(size * size)
    outputs = keras.layers.Softmax()(dense(keras.layers.Flatten()(inputs)))
    model = keras.Model(inputs, outputs)
    dense.kernel.assign(w)
    dense.bias.assign(b)
    return model, lambda x: softmax(x.reshape(-1).astype(np.float64) @ w + b)


def test_evaluate_policy_top1_top5_single_and_ensemble():
    rng = np.random.default_rng(1)
    model, net = linear_policy(5, 4, seed=2)
    x = (rng.random((200, 5, 5, 4)) < 0.3).astype(np.float32)
    single = np.stack([net(xi) for xi in x])
    ensemble = np.zeros_like(single)
    for k in range(8):
        for i, xi in enumerate(x):
            pk = net(go.transform(xi, k))       # p of the transformed position...
            ensemble[i] += pk[go.symmetry.label_maps(5)[k]] / 8    # ...read at T_k(point)
    labels = rng.integers(0, 25, 200)
    labels[:50] = np.argmax(single[:50], 1)
    labels[50:90] = np.argmax(ensemble[50:90], 1)
    result = go.evaluate_policy(model, (x, labels), batch_size=64)

    def topk(p, k):
        return np.mean([y in np.argsort(-row)[:k] for row, y in zip(p, labels)])

    assert result["positions"] == 200
    assert result["top1"] == pytest.approx(topk(single, 1))
    assert result["top5"] == pytest.approx(topk(single, 5))
    assert result["top1_ensemble"] == pytest.approx(topk(ensemble, 1))
    assert result["top5_ensemble"] == pytest.approx(topk(ensemble, 5))
    assert result["top1"] != result["top1_ensemble"]
    assert "top1_ensemble" not in go.evaluate_policy(model, (x, labels), ensemble=False)


def test_evaluate_policy_reads_the_test_split_of_a_conversion(tmp_path):
    go.write_random_games(tmp_path / "sgf", 6, size=9, num_moves=40, seed=0)
    meta = go.convert(tmp_path / "sgf", tmp_path / "shards", board_size=9, test_fraction=0.5,
                      workers=1, progress=False)
    model = fixed_policy(9, 48, np.zeros(81))
    result = go.evaluate_policy(model, tmp_path / "shards", batch_size=32)
    assert result["positions"] == meta["splits"]["test"]["positions"] > 0
    with pytest.raises(TypeError, match="data"):
        go.evaluate_policy(model, [1, 2, 3])


def test_alphago_policy_network_plays_legal_moves_in_its_orientation():
    import kcnn

    model = kcnn.build("alphago_policy", board_size=9, input_planes=48, filters=8,
                       num_layers=2)
    game = go.random_game(9, 50, seed=4)
    state = go.final_state(game)
    move = go.predict_move(model, state)
    assert move is not None and state.is_legal(move)
    probs = go.move_probabilities(model, state, ensemble=True)
    raw = np.asarray(model(go.features(state)[None].astype(np.float32)))[0]
    assert raw.shape == (81,) and np.isclose(probs.sum(), 1.0)
    # an occupied point gets nothing, whatever the network says
    occupied = np.argwhere(state.board != go.EMPTY)[0]
    assert probs[tuple(occupied)] == 0
