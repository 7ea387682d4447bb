"""kcnn.data pipelines: array batches, CIFAR and digit augmentation, image folders, crops."""

import json

import numpy as np
import pytest

from kcnn.data import cifar, folders, pipelines, synthetic
from kcnn.layers import PCAColorAugmentation


def test_from_arrays_batches_shuffles_per_epoch_and_preprocesses():
    x = np.arange(10, dtype="float32").reshape(10, 1, 1, 1)
    y = np.arange(10, dtype="int32")
    ds = pipelines.from_arrays(x, y, batch_size=4, shuffle=True, seed=3,
                               preprocess=lambda images: images * 2)
    epochs = [[(bx.numpy().ravel(), by.numpy()) for bx, by in ds] for _ in range(2)]
    for batches in epochs:
        assert [len(by) for _, by in batches] == [4, 4, 2]
        labels = np.concatenate([by for _, by in batches])
        assert sorted(labels) == list(range(10))
        for bx, by in batches:  # images stay with their labels
            np.testing.assert_array_equal(bx, 2 * by)
    assert not np.array_equal(np.concatenate([b for _, b in epochs[0]]),
                              np.concatenate([b for _, b in epochs[1]]))


def test_pad_crop_flip_gives_a_crop_of_the_zero_padded_image_or_its_mirror():
    rng = np.random.default_rng(0)
    images = rng.random((16, 6, 6, 2)).astype("float32") + 1.0  # no zeros inside
    out = pipelines.pad_crop_flip(padding=2)(images, np.array([1, 2])).numpy()
    assert out.shape == images.shape
    flips = 0
    for image, crop in zip(images, out):
        padded = np.pad(image, ((2, 2), (2, 2), (0, 0)))
        matches = [(dy, dx, flip) for dy in range(5) for dx in range(5) for flip in (0, 1)
                   if np.array_equal(crop, (lambda c: c[:, ::-1] if flip else c)(
                       padded[dy:dy + 6, dx:dx + 6]))]
        assert matches, "output is not a crop of the padded image"
        flips += all(m[2] for m in matches)
    assert 0 < flips < 16  # both mirrored and unmirrored crops occur


def test_shift_rotate_moves_digits_but_keeps_them_on_a_blank_background():
    x = np.zeros((8, 32, 32, 1), "float32")
    x[:, 12:20, 14:18] = 1.0
    augment = pipelines.shift_rotate(max_shift=0.1, max_rotation=10)
    out = np.asarray(augment(x, np.array([0, 1])))
    assert out.shape == x.shape
    assert not np.allclose(out, x)
    assert np.all(out >= -1e-6) and np.all(out <= 1 + 1e-6)
    # ink is moved, not created: totals stay close (bilinear resampling smears edges)
    np.testing.assert_allclose(out.sum(axis=(1, 2, 3)), x.sum(axis=(1, 2, 3)), rtol=0.15)
    # the same seed gives the same batch, another seed another one
    np.testing.assert_array_equal(np.asarray(augment(x, np.array([0, 1]))), out)
    assert not np.allclose(np.asarray(augment(x, np.array([0, 2]))), out)
    same = pipelines.shift_rotate(max_shift=0.0, max_rotation=0.0)(x, np.array([0, 1]))
    np.testing.assert_allclose(np.asarray(same), x)


def test_rotate_shift_against_numpy_rotations_and_rolls():
    rng = np.random.default_rng(0)
    x = rng.random((2, 7, 7, 1)).astype("float32")
    quarter = pipelines.rotate_shift(x, np.full(2, np.pi / 2), np.zeros((2, 2)),
                                     interpolation="nearest")
    np.testing.assert_allclose(np.asarray(quarter), np.rot90(x, k=1, axes=(1, 2)), atol=1e-6)
    shifted = np.asarray(pipelines.rotate_shift(x, np.zeros(2), np.array([[2, -1]] * 2),
                                                interpolation="nearest"))
    expected = np.zeros_like(x)
    expected[:, :6, 2:] = x[:, 1:, :5]  # 2 pixels right, 1 up, zeros brought in
    np.testing.assert_allclose(shifted, expected, atol=1e-6)


def test_parallel_augmented_pipeline_repeats_exactly_with_the_same_seed():
    x = np.random.default_rng(0).random((40, 12, 12, 1)).astype("float32")
    y = np.arange(40, dtype="int32")

    def epochs(seed):
        ds = pipelines.from_arrays(x, y, batch_size=8, shuffle=True, seed=seed,
                                   augment=pipelines.shift_rotate())
        return [np.concatenate([b.numpy().ravel() for b, _ in ds]) for _ in range(2)]

    first, again = epochs(3), epochs(3)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.allclose(first[0], first[1])  # a new shuffle and new draws each epoch


def test_synthetic_images_have_requested_shapes_and_balanced_labels():
    x, y = synthetic.images(20, (5, 5, 3), 4, seed=0, scale=255.0)
    assert x.shape == (20, 5, 5, 3) and x.dtype == np.float32 and y.dtype == np.int32
    assert np.bincount(y).tolist() == [5, 5, 5, 5]
    assert 0 <= x.min() and x.max() <= 255.0


def test_cifar_validation_split_is_stratified_and_fixed():
    y = np.repeat(np.arange(10), 20).astype("int32")
    x = np.arange(200, dtype="float32").reshape(200, 1, 1, 1)
    (xt, yt), (xv, yv) = cifar.split_validation(x, y, validation_size=50, seed=0)
    assert len(xv) == 50 and len(xt) == 150
    assert np.bincount(yv).tolist() == [5] * 10
    assert not set(xv.ravel()) & set(xt.ravel())
    (_, _), (xv2, _) = cifar.split_validation(x, y, validation_size=50, seed=0)
    np.testing.assert_array_equal(xv, xv2)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(10, 12, 12, 3)).astype("float32")
    y = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
    root = folders.write_image_folders(str(tmp_path_factory.mktemp("images")), x[:6], y[:6],
                                       x[6:], y[6:])
    return root, x, y


def test_image_folders_read_classes_and_give_centre_and_ten_crops(folder):
    root, x, y = folder
    data = folders.image_folders(root, batch_size=4, image_size=8, resize=12,
                                 eval_protocol="ten_crop")
    assert data["class_names"] == ["class_000", "class_001", "class_002"]
    assert data["train_size"] == 6 and data["test_size"] == 4
    bx, by = next(iter(data["train"]))
    assert bx.shape == (4, 8, 8, 3)
    tx, ty = next(iter(data["test"]))
    assert tx.shape == (4, 10, 8, 8, 3)
    # test images in file order: 000000.png.. of each class folder; PNG keeps exact values
    order = sorted(range(4), key=lambda i: (y[6 + i], i))
    images = x[6:][order]
    labels = y[6:][order]
    np.testing.assert_array_equal(ty.numpy(), labels)
    np.testing.assert_array_equal(tx.numpy()[:, 0], images[:, 2:10, 2:10])      # centre
    np.testing.assert_array_equal(tx.numpy()[:, 1], images[:, :8, :8])           # top-left
    np.testing.assert_array_equal(tx.numpy()[:, 5], images[:, 2:10, 2:10][:, :, ::-1])
    vx, _ = next(iter(data["validation"]))
    np.testing.assert_array_equal(vx.numpy(), images[:, 2:10, 2:10])


def test_folder_training_batches_repeat_exactly_with_the_same_seed(folder):
    root, _, _ = folder
    light = PCAColorAugmentation([100.0, 10.0, 1.0], np.eye(3))

    def epochs(seed):
        data = folders.image_folders(root, batch_size=2, image_size=8, resize=12, seed=seed,
                                     color=light)
        return [np.concatenate([b.numpy().ravel() for b, _ in data["train"]])
                for _ in range(2)]

    first, again = epochs(4), epochs(4)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.allclose(first[0], first[1])  # new crops, flips and colours each epoch
    assert not np.allclose(first[0], epochs(5)[0])


def test_missing_folders_are_reported_with_the_expected_layout(tmp_path):
    with pytest.raises(ValueError, match="train and .*val"):
        folders.image_folders(str(tmp_path), batch_size=2)


def _damaged_folder(root):
    """Good PNGs and JPEGs plus an empty, a truncated and a garbage JPEG, a truncated PNG,
    a JPEG with bytes after its end marker (valid) and one broken in the middle."""
    import tensorflow as tf

    rng = np.random.default_rng(1)
    for split, n in (("train", 6), ("val", 3)):
        for c in range(2):
            d = root / split / f"c{c}"
            d.mkdir(parents=True)
            for i in range(n):
                image = rng.integers(0, 256, (10, 10, 3), dtype=np.uint8)
                data = tf.io.encode_jpeg(image) if i % 2 else tf.io.encode_png(image)
                (d / f"{i}.{'jpg' if i % 2 else 'png'}").write_bytes(data.numpy())
    d = root / "train" / "c1"
    jpeg, png = (d / "1.jpg").read_bytes(), (d / "0.png").read_bytes()
    bad = {"empty.jpg": b"", "truncated.jpg": jpeg[: len(jpeg) // 2],
           "garbage.jpg": bytes(rng.integers(0, 256, 300, dtype=np.uint8)),
           "truncated.png": png[: len(png) // 2]}
    for name, data in bad.items():
        (d / name).write_bytes(data)
    (d / "trailing.jpg").write_bytes(jpeg + b"\0" * 5000)
    middle = bytearray(jpeg)
    middle[len(jpeg) // 2: len(jpeg) // 2 + 40] = b"\xff\x01" * 20   # broken inside
    (d / "middle.jpg").write_bytes(bytes(middle))
    return sorted(str(d / name) for name in bad)


def test_unreadable_images_are_skipped_named_and_counted(tmp_path):
    bad = _damaged_folder(tmp_path)
    folders.skipped_files(clear=True)
    with pytest.warns(RuntimeWarning, match="Skipped 4 unreadable image file") as caught:
        ds, names, count = folders.read_folder(str(tmp_path / "train"), resize=8)
    message = str(caught[0].message)
    for path in bad:
        assert path in message
    assert "empty file (0 bytes)" in message and "truncated or corrupt JPEG" in message
    assert names == ["c0", "c1"] and count == 12 + 2  # + trailing.jpg and middle.jpg
    # the pipeline never stops: a file it cannot decode is replaced by one of the next pass
    assert ds.cardinality().numpy() == 14
    images = [x for x, _ in ds]
    assert len(images) == 14 and all(x.shape == (8, 8, 3) for x in images)
    assert [s["path"] for s in folders.skipped_files(clear=True)] == bad
    assert folders.skipped_files() == []


def test_a_run_on_a_folder_with_unreadable_images_trains_to_the_end(tmp_path, capsys):
    from kcnn.training.recipe import Data
    from kcnn.training.toy import toy_recipe

    bad = _damaged_folder(tmp_path / "data")

    def data(cfg):
        d = folders.image_folders(str(tmp_path / "data"), batch_size=4, image_size=8,
                                  resize=8)
        return Data(train=d["train"], test=d["test"], num_classes=2, input_shape=(8, 8, 3),
                    train_size=d["train_size"], test_size=d["test_size"],
                    description="a damaged folder")

    out = tmp_path / "run"
    with pytest.warns(RuntimeWarning, match="unreadable"):
        code = toy_recipe(data=data).main(["--output", str(out), "--epochs", "2",
                                           "--num-classes", "2", "--verbose", "2",
                                           "--run-eagerly"])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert [s["path"] for s in metrics["skipped_files"]] == bad
    assert metrics["epochs_done"] == 2
    assert "skipped files   4 unreadable image(s)" in capsys.readouterr().out
