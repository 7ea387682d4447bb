import keras
import numpy as np
import pytest
import tensorflow as tf

from kcnn.layers import CropAndFlip, PCAColorAugmentation, compute_rgb_pca, ten_crop, \
    ten_crop_predict

RNG = np.random.default_rng(2)


def _np(x):
    return np.asarray(keras.ops.convert_to_numpy(x), dtype="float64")


def _locate(patch, image):
    """The (top, left, mirrored) placements of ``patch`` inside ``image`` (numpy search)."""
    h, w = patch.shape[:2]
    found = []
    for top in range(image.shape[0] - h + 1):
        for left in range(image.shape[1] - w + 1):
            window = image[top:top + h, left:left + w]
            if np.array_equal(window, patch):
                found.append((top, left, False))
            if np.array_equal(window[:, ::-1], patch):
                found.append((top, left, True))
    return found


def test_centre_crop_at_inference():
    images = RNG.integers(0, 256, size=(2, 256, 256, 3)).astype("uint8")
    for size, offset in ((224, 16), (227, 14)):
        out = CropAndFlip(size)(images)
        assert out.dtype == "uint8"
        np.testing.assert_array_equal(_np(out), images[:, offset:offset + size,
                                                       offset:offset + size])
    out = CropAndFlip((3, 5))(images[0, :8, :9])  # a single image, a rectangular patch
    np.testing.assert_array_equal(_np(out), images[0, 2:5, 2:7])


def test_random_crops_and_flips_in_training_are_uniform_and_reproducible():
    # Distinct values, so that every patch has exactly one placement.
    images = RNG.permutation(64 * 7 * 8 * 2).reshape(64, 7, 8, 2).astype("float32")
    layer = CropAndFlip((4, 5), seed=7)
    out = _np(layer(images, training=True))
    assert out.shape == (64, 4, 5, 2)
    placements = [_locate(p, im) for p, im in zip(out, images)]
    assert all(len(p) == 1 for p in placements)
    tops, lefts, flips = zip(*(p[0] for p in placements))
    assert set(tops) == {0, 1, 2, 3} and set(lefts) == {0, 1, 2, 3}
    assert 16 < sum(flips) < 48

    again = CropAndFlip((4, 5), seed=7)
    np.testing.assert_array_equal(_np(again(images, training=True)), out)
    assert not np.array_equal(_np(again(images, training=True)), out)
    no_flip = _np(CropAndFlip((4, 5), flip=False, seed=1)(images, training=True))
    assert not any(_locate(p, im)[0][2] for p, im in zip(no_flip, images))


def test_stateless_crops_and_flips_are_uniform_and_a_function_of_the_seed():
    images = RNG.permutation(64 * 7 * 8 * 2).reshape(64, 7, 8, 2).astype("float32")
    layer = CropAndFlip((4, 5))
    out = _np(layer.augment(images, tf.constant([7, 1], tf.int64)))
    placements = [_locate(p, im) for p, im in zip(out, images)]
    assert all(len(p) == 1 for p in placements)
    tops, lefts, flips = zip(*(p[0] for p in placements))
    assert set(tops) == {0, 1, 2, 3} and set(lefts) == {0, 1, 2, 3}
    assert 16 < sum(flips) < 48
    np.testing.assert_array_equal(
        _np(CropAndFlip((4, 5)).augment(images, tf.constant([7, 1], tf.int64))), out)
    assert not np.array_equal(_np(layer.augment(images, tf.constant([7, 2], tf.int64))), out)
    single = _np(layer.augment(images[0], tf.constant([7, 1], tf.int64)))
    assert single.shape == (4, 5, 2) and len(_locate(single, images[0])) == 1
    no_flip = _np(CropAndFlip((4, 5), flip=False).augment(images, tf.constant([1, 1])))
    assert not any(_locate(p, im)[0][2] for p, im in zip(no_flip, images))


def test_stateless_pca_colour_noise_has_the_papers_distribution():
    values = np.array([2.0, 0.5, 0.1])
    vectors = np.linalg.qr(RNG.normal(size=(3, 3)))[0]
    images = RNG.uniform(0, 1, size=(400, 4, 4, 3)).astype("float32")
    layer = PCAColorAugmentation(values, vectors)
    out = _np(layer.augment(images, tf.constant([5, 0], tf.int64)))
    shift = out - images
    np.testing.assert_allclose(shift, np.broadcast_to(shift[:, :1, :1], shift.shape), atol=1e-5)
    alpha = shift[:, 0, 0] @ vectors / values
    assert abs(alpha.std() - 0.1) < 0.01 and abs(alpha.mean()) < 0.015
    np.testing.assert_array_equal(
        _np(layer.augment(images, tf.constant([5, 0], tf.int64))), out)
    assert not np.array_equal(_np(layer.augment(images, tf.constant([6, 0], tf.int64))), out)
    with pytest.raises(ValueError, match="3 channels"):
        layer.augment(images[..., :2], tf.constant([5, 0]))


def test_crop_and_pca_layers_in_a_tf_data_pipeline():
    images = RNG.integers(0, 256, size=(6, 12, 12, 3)).astype("uint8")
    crop = CropAndFlip(8, seed=0)
    light = PCAColorAugmentation([1.0, 0.5, 0.1], np.eye(3), seed=0)
    ds = tf.data.Dataset.from_tensor_slices((images, np.arange(6)))
    single = ds.map(lambda x, y: (light(crop(x, training=True), training=True), y)).batch(3)
    batched = ds.batch(3).map(lambda x, y: (crop(x, training=True), y))
    shapes = [(x.shape, x.dtype) for x, _ in single] + [(x.shape, x.dtype) for x, _ in batched]
    assert shapes == [((3, 8, 8, 3), tf.float32)] * 2 + [((3, 8, 8, 3), tf.uint8)] * 2


def test_ten_crop_corners_centre_and_mirrors():
    images = RNG.normal(size=(2, 9, 10, 3)).astype("float32")
    crops = _np(ten_crop(images, (5, 6)))
    assert crops.shape == (2, 10, 5, 6, 3)
    expected = [images[:, 2:7, 2:8], images[:, :5, :6], images[:, :5, 4:],
                images[:, 4:, :6], images[:, 4:, 4:]]
    expected += [e[:, :, ::-1] for e in expected]
    np.testing.assert_allclose(crops, np.stack(expected, axis=1))

    inputs = keras.Input((5, 6, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(inputs)
    model = keras.Model(inputs, keras.layers.Dense(4, activation="softmax")(pooled))
    average = _np(ten_crop_predict(model, images))
    per_crop = [_np(model(crops[:, i].astype("float32"))) for i in range(10)]
    np.testing.assert_allclose(average, np.mean(per_crop, axis=0), atol=1e-6)
    with pytest.raises(ValueError, match="cannot take"):
        ten_crop(images, 11)


def test_rgb_pca_streams_to_the_sample_covariance():
    mixing = np.array([[1.0, 0.0, 0.0], [0.8, 0.3, 0.0], [0.6, 0.2, 0.1]])
    # Offset far from zero: a naive one-pass sum of squares would lose the digits.
    pixels = 1e4 + RNG.normal(size=(20, 6, 7, 3)) @ mixing.T
    expected = np.cov(pixels.reshape(-1, 3).T)  # S = sum (X - mean)(X - mean)^T / (n - 1)
    ds = tf.data.Dataset.from_tensor_slices((pixels, np.zeros(20))).batch(6)
    dicts = tf.data.Dataset.from_tensor_slices({"image": pixels}).batch(7)
    results = [compute_rgb_pca(pixels, chunk_size=100), compute_rgb_pca(ds),
               compute_rgb_pca(dicts), compute_rgb_pca(list(pixels))]
    for pca in results:
        np.testing.assert_allclose(pca.covariance, expected, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(pca.mean, pixels.reshape(-1, 3).mean(axis=0))
        assert pca.count == 20 * 6 * 7
        values, vectors = pca.eigenvalues, pca.eigenvectors
        assert values[0] >= values[1] >= values[2] > 0
        np.testing.assert_allclose(expected @ vectors, vectors * values, atol=1e-9)
        np.testing.assert_allclose(vectors.T @ vectors, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(results[0].eigenvalues, np.linalg.eigvalsh(expected)[::-1])
    with pytest.raises(ValueError, match="3 \\(RGB\\) channels"):
        compute_rgb_pca(np.zeros((4, 4, 1)))
    with pytest.raises(ValueError, match="at least 2 pixels"):
        compute_rgb_pca([])


def test_pca_colour_shift_is_one_colour_per_image_with_alpha_from_n_0_01():
    values = np.array([2.0, 0.5, 0.1])
    vectors = np.linalg.qr(RNG.normal(size=(3, 3)))[0]
    images = RNG.uniform(0, 1, size=(400, 4, 4, 3)).astype("float32")
    layer = PCAColorAugmentation(values, vectors, seed=5)
    out = _np(layer(images, training=True))
    shift = out - images
    np.testing.assert_allclose(shift, np.broadcast_to(shift[:, :1, :1], shift.shape), atol=1e-5)
    # shift = P (alpha * lambda): recover alpha with the orthonormal P.
    alpha = shift[:, 0, 0] @ vectors / values
    assert abs(alpha.std() - 0.1) < 0.01 and abs(alpha.mean()) < 0.015
    np.testing.assert_array_equal(_np(layer(images)), images)  # inference: identity

    again = PCAColorAugmentation(values, vectors, seed=5)
    np.testing.assert_array_equal(_np(again(images, training=True)), out)
    stddev = PCAColorAugmentation(values, vectors, magnitude="stddev", seed=5)
    shift2 = _np(stddev(images, training=True)) - images
    np.testing.assert_allclose(shift2[:, 0, 0] @ vectors / np.sqrt(values), alpha, atol=1e-4)


def test_bad_arguments_name_themselves():
    with pytest.raises(ValueError, match="cannot take a 224x224 patch from 200x256"):
        CropAndFlip(224)(np.zeros((1, 200, 256, 3), "float32"))
    with pytest.raises(ValueError, match="Received: seed=-1"):
        CropAndFlip(seed=-1)
    with pytest.raises(ValueError, match="`eigenvalues` must be 3 non-negative"):
        PCAColorAugmentation([1, -1, 0], np.eye(3))
    with pytest.raises(ValueError, match="`eigenvectors` must be a 3 x 3"):
        PCAColorAugmentation([1, 1, 0], np.eye(2))
    with pytest.raises(ValueError, match="Received: magnitude='sqrt'"):
        PCAColorAugmentation([1, 1, 0], np.eye(3), magnitude="sqrt")
