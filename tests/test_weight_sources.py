"""The table of published checkpoints and their download: offline (get_file is replaced)."""

import dataclasses
import hashlib
import inspect
import logging
import os
import re

import pytest

import kcnn
from kcnn.preprocessing import MODES
from kcnn.weights import download
from kcnn.weights.variants import model_variant
from kcnn.weights.sources import (HASH_LENGTHS, SOURCES, WeightSource, models_with_sources,
                                  resolve, source_names, sources_for)

FORMATS = ("keras_h5", "torch_zip", "caffe")


def test_every_source_names_a_registered_model_once_with_one_default():
    seen = set()
    for s in SOURCES:
        assert kcnn.get_spec(s.model).name == s.model
        assert (s.model, s.name) not in seen, (s.model, s.name)
        seen.add((s.model, s.name))
    for model in models_with_sources():
        defaults = [s for s in sources_for(model) if s.default]
        assert len(defaults) == 1, model
        assert resolve(model, "imagenet") is defaults[0]
        assert sources_for(model)[0] is defaults[0]


def test_fields_are_consistent():
    for s in SOURCES:
        where = f"{s.model}/{s.name}"
        assert s.format in FORMATS, where
        assert s.preprocessing in MODES, where
        assert (s.file_hash is None) == (s.hash_algorithm is None), where
        if s.file_hash is not None:
            assert re.fullmatch(r"[0-9a-f]+", s.file_hash), where
            assert len(s.file_hash) in HASH_LENGTHS[s.hash_algorithm], where
        if s.url is not None:
            assert s.url.startswith(("https://", "http://")), where
            assert s.url.endswith("/" + s.file_name), where
        for value in (s.top1, s.top5):
            assert value is None or 0 < value < 100, where
        if s.top1 is not None and s.top5 is not None:
            assert s.top1 < s.top5, where
        assert s.crop_size <= s.resize_size, where
        assert (s.notop_file_name is None) == (s.notop_file_hash is None), where
        with pytest.raises(TypeError):
            s.variant["x"] = 1  # read-only
        with pytest.raises(dataclasses.FrozenInstanceError):
            s.url = "elsewhere"


def test_published_defaults_follow_the_papers():
    assert resolve("resnet50", "imagenet").origin == "keras.applications"
    assert resolve("vgg16", "imagenet").origin == "keras.applications"
    assert resolve("alexnet", "imagenet").name == "bvlc"
    assert resolve("googlenet", "imagenet").name == "bvlc"
    assert resolve("resnet18", "imagenet").name == "torchvision_v1"
    assert resolve("ResNet152", "TorchVision-V2").file_name == "resnet152-f82ba261.pth"
    # V1 and V2 are different files, evaluated at different sizes
    v1, v2 = resolve("resnet101", "torchvision_v1"), resolve("resnet101", "torchvision_v2")
    assert v1.file_hash != v2.file_hash and (v1.resize_size, v2.resize_size) == (256, 232)
    assert resolve("resnet50", "msra").url is None  # local path only


def _builder_parameters(spec):
    fn = inspect.unwrap(spec.builder)
    params = inspect.signature(fn).parameters
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):  # vgg11(**kwargs) -> vgg()
        fn = getattr(inspect.getmodule(fn), spec.family)
        params = inspect.signature(fn).parameters
    return params


def test_variants_are_builder_arguments_and_build():
    for s in SOURCES:
        params = _builder_parameters(kcnn.get_spec(s.model))
        assert set(s.variant) <= set(params), (s.model, s.name, set(s.variant) - set(params))
    # the values are accepted too: one small build per distinct variant
    small = {"resnet": dict(input_shape=(32, 32, 3), stackwise_num_blocks=(1, 1, 1, 1),
                            num_classes=4),
             "alexnet": dict(input_shape=(67, 67, 3), filters=(8, 8, 8, 8, 8), fc_units=8,
                             num_classes=4),
             "vgg": dict(input_shape=(32, 32, 3), filters=(4, 4, 4, 4, 4), fc_units=8,
                         num_classes=4),
             "googlenet": dict(input_shape=(32, 32, 3), width_multiplier=0.125,
                               num_classes=4)}
    done = set()
    for s in SOURCES:
        spec = kcnn.get_spec(s.model)
        key = (spec.family, tuple(sorted(s.variant.items())))
        if not s.variant or key in done:
            continue
        done.add(key)
        model = kcnn.build("resnet50" if spec.family == "resnet" else s.model,
                           **small[spec.family], **s.variant)
        assert model.output_shape == (None, 4)
        # the loader reads every declared argument back off the built model (a key it does
        # not know would be ignored by its variant check)
        actual = model_variant(model)
        for key, value in s.variant.items():
            assert actual[key] == pytest.approx(value) if isinstance(value, float) \
                else actual[key] == value, (s.model, s.name, key)
    assert len(done) >= 4


def test_keras_rows_match_keras_applications_own_source():
    from keras.src.applications import resnet, vgg16, vgg19

    for depth in (50, 101, 152):
        s = resolve(f"resnet{depth}", "keras")
        assert (s.file_hash, s.notop_file_hash) == resnet.WEIGHTS_HASHES[f"resnet{depth}"]
        assert s.url == resnet.BASE_WEIGHTS_PATH + s.file_name
    for module, name in ((vgg16, "vgg16"), (vgg19, "vgg19")):
        s = resolve(name, "keras")
        code = inspect.getsource(module)
        assert (s.url, s.notop_url) == (module.WEIGHTS_PATH, module.WEIGHTS_PATH_NO_TOP)
        assert re.findall(r'file_hash="([0-9a-f]{32})"', code) == [s.file_hash,
                                                                    s.notop_file_hash]


def test_torchvision_rows_match_torchvision_when_installed():
    models = pytest.importorskip("torchvision.models")
    for s in SOURCES:
        if s.origin == "torchvision":
            enum = models.get_model_weights(s.model)
            w = getattr(enum, f"IMAGENET1K_V{s.name[-1]}")
            assert w.url == s.url
            metrics = w.meta["_metrics"]["ImageNet-1K"]
            assert (metrics["acc@1"], metrics["acc@5"]) == (s.top1, s.top5)
            assert w.transforms().resize_size == [s.resize_size]


def test_resolve_errors_name_the_choices():
    with pytest.raises(ValueError, match="Did you mean 'torchvision_v2'") as e:
        resolve("resnet50", "torchvison_v2")
    assert "'msra'" in str(e.value) and "Received: weights='torchvison_v2'" in str(e.value)
    with pytest.raises(ValueError, match="No published weights are known for 'lenet5'"):
        resolve("lenet5", "imagenet")
    with pytest.raises(TypeError, match="weights"):
        resolve("resnet50", 3)
    with pytest.raises(ValueError, match="resnet50"):
        resolve("resnet5O", "imagenet")
    assert source_names("vgg16") == ("imagenet", "keras", "torchvision_v1", "vgg_caffe")
    assert sources_for("lenet5") == ()


def test_one_rule_tells_a_file_from_a_source_name(tmp_path, monkeypatch):
    from kcnn.preprocessing import for_model
    from kcnn.weights import CheckpointError
    from kcnn.weights.sources import is_path, merge_variant

    monkeypatch.chdir(tmp_path)
    assert not is_path("imagenet") and not is_path("torchvision-v2")
    assert is_path("model.pth") and is_path("runs/a") and is_path(tmp_path / "x")
    assert not is_path(None) and not is_path(3)
    (tmp_path / "bvlc").write_bytes(b"")
    assert is_path("bvlc")  # an existing file is the file
    # kcnn.build and the preprocessing of a checkpoint follow the same rule
    with pytest.raises(CheckpointError, match="no such file"):
        kcnn.build("lenet5", weights="lenet5.keras")
    with pytest.raises(ValueError, match="does not say how its images were preprocessed"):
        for_model("resnet50", weights="model.h5")
    assert resolve("resnet50", "torchvision-v2").name == "torchvision_v2"
    variant = {"stride_in_3x3": True}
    assert merge_variant(variant, {"num_classes": 5}, what="w", model="resnet50") == {
        "stride_in_3x3": True, "num_classes": 5}
    with pytest.raises(ValueError, match=r"w needs stride_in_3x3=True; leave `stride_in_3x3` "
                                         r"out .*Received: stride_in_3x3=False"):
        merge_variant(variant, {"stride_in_3x3": False}, what="w", model="resnet50")


# === downloads, with keras.utils.get_file replaced ===

PAYLOAD = b"checkpoint bytes"


@pytest.fixture
def fake_get_file(monkeypatch):
    """Replaces keras.utils.get_file: writes PAYLOAD (or raises ``offline``) and records the
    call."""
    import keras

    calls = []
    state = {"offline": False}

    def get_file(fname=None, origin=None, cache_subdir="datasets", cache_dir=None,
                 file_hash=None, hash_algorithm="auto", **_):
        calls.append(dict(fname=fname, origin=origin, cache_subdir=cache_subdir,
                          cache_dir=cache_dir, file_hash=file_hash,
                          hash_algorithm=hash_algorithm))
        path = os.path.join(cache_dir, cache_subdir, fname)
        if os.path.exists(path):
            return path
        if state["offline"]:
            raise Exception(f"URL fetch failure on {origin}: None -- [Errno -3] "
                            "Temporary failure in name resolution")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(PAYLOAD)
        return path

    monkeypatch.setattr(keras.utils, "get_file", get_file)
    get_file.calls, get_file.state = calls, state
    return get_file


def _with_hash(source, algorithm, content=PAYLOAD, length=None):
    digest = hashlib.new(algorithm, content).hexdigest()
    return dataclasses.replace(source, file_hash=digest[:length] if length else digest,
                               hash_algorithm=algorithm)


def test_keras_md5_is_checked_by_get_file_in_the_kcnn_cache(fake_get_file, tmp_path):
    source = resolve("resnet50", "imagenet")
    path = download.fetch(source, cache_dir=tmp_path)
    assert path == os.path.join(tmp_path, "kcnn", source.file_name)
    (call,) = fake_get_file.calls
    assert call["origin"] == source.url and call["cache_subdir"] == "kcnn"
    assert (call["file_hash"], call["hash_algorithm"]) == (source.file_hash, "md5")
    notop = download.fetch(source, cache_dir=tmp_path, include_top=False)
    assert notop.endswith("_notop.h5")
    assert fake_get_file.calls[-1]["file_hash"] == source.notop_file_hash


@pytest.mark.parametrize("model,name,algorithm,length", [
    ("resnet50", "torchvision_v2", "sha256", 8), ("googlenet", "bvlc", "sha1", None)])
def test_prefix_and_sha1_checked_after_download(fake_get_file, tmp_path, model, name,
                                                algorithm, length):
    good = _with_hash(resolve(model, name), algorithm, length=length)
    path = download.fetch(good, cache_dir=tmp_path)
    assert open(path, "rb").read() == PAYLOAD
    assert fake_get_file.calls[0]["file_hash"] is None  # get_file cannot check these
    os.remove(path)
    bad = _with_hash(resolve(model, name), algorithm, content=b"other", length=length)
    with pytest.raises(ValueError, match="The download was deleted") as e:
        download.fetch(bad, cache_dir=tmp_path)
    assert bad.file_hash in str(e.value) and bad.url in str(e.value)
    assert not os.path.exists(path)


def test_real_published_hash_refuses_other_bytes_but_keeps_a_users_file(fake_get_file,
                                                                        tmp_path):
    source = resolve("alexnet", "bvlc")  # the real BVLC sha1
    target = download.cached_path(source, cache_dir=tmp_path)
    os.makedirs(os.path.dirname(target))
    with open(target, "wb") as f:
        f.write(b"truncated")
    with pytest.raises(ValueError, match="kept at") as e:
        download.fetch(source, cache_dir=tmp_path)
    assert "9116a64c0fbe4459d18f4bb6b56d647b63920377" in str(e.value)
    assert os.path.exists(target)


def test_offline_error_names_the_url_and_where_to_put_the_file(fake_get_file, tmp_path):
    fake_get_file.state["offline"] = True
    source = resolve("vgg16", "torchvision_v1")
    with pytest.raises(download.WeightsUnavailableError) as e:
        download.fetch(source, cache_dir=tmp_path)
    message = str(e.value)
    assert source.url in message
    assert os.path.join(str(tmp_path), "kcnn", "vgg16-397923af.pth") in message
    assert isinstance(e.value, OSError)


def test_source_without_url_is_taken_from_the_cache_folder(fake_get_file, tmp_path):
    source = resolve("resnet101", "msra")
    with pytest.raises(download.WeightsUnavailableError, match="no download URL") as e:
        download.fetch(source, cache_dir=tmp_path)
    target = os.path.join(str(tmp_path), "kcnn", "ResNet-101-model.caffemodel")
    assert target in str(e.value)
    os.makedirs(os.path.dirname(target))
    open(target, "wb").write(PAYLOAD)
    assert download.fetch(source, cache_dir=tmp_path) == target
    assert fake_get_file.calls == []


def test_unverified_download_says_so(fake_get_file, tmp_path, caplog):
    source = resolve("vgg19", "vgg_caffe")
    with caplog.at_level(logging.WARNING, logger="kcnn.weights"):
        download.fetch(source, cache_dir=tmp_path)
    assert "publishes no checksum" in caplog.text and "unverified" in caplog.text


def test_fetch_refuses_a_name():
    with pytest.raises(TypeError, match="WeightSource"):
        download.fetch("resnet50")
    assert isinstance(SOURCES[0], WeightSource)


def test_cache_folder_follows_keras_home(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert download.cache_folder() == os.path.join(str(tmp_path), "kcnn")
