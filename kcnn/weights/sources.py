"""Published ImageNet checkpoints kcnn can load, with the facts their publishers give.

Every row comes from its publisher (nothing here is measured by kcnn):

- keras.applications (``keras/src/applications/vgg16.py``, ``vgg19.py``, ``resnet.py``): URLs
  and md5 file hashes of the legacy Keras 2 HDF5 files; accuracies and sizes from the table of
  https://keras.io/api/applications/ . The VGG files are a port of the VGG team's Caffe
  models, the ResNet files a port of MSRA's Caffe models: both expect BGR input minus the
  mean pixel (keras's ``preprocess_input`` "caffe" mode). The ResNet port keeps MSRA's
  convolution biases before BatchNorm and uses a BatchNorm epsilon of 1.001e-5.
- torchvision (``torchvision/models/resnet.py`` and ``vgg.py``, version 0.29): ``.pth`` URLs
  whose file names end in the first 8 hex digits of the file's sha256, accuracies
  (``acc@1``/``acc@5``), evaluation resize and crop, and file sizes (``_file_size``, MiB).
  Its ResNet-50/101/152 are "v1.5" (stride on the 3x3 convolution); IMAGENET1K_V1 and V2 are
  different checkpoints: V2 was trained with a newer recipe and is evaluated after resizing
  to 232, not 256.
- BVLC model zoo (``models/bvlc_alexnet/readme.md``, ``models/bvlc_googlenet/readme.md`` in
  BVLC/caffe): URLs, sha1 hashes, licence and centre-crop accuracies.
- VGG (the model gists ``211839e770f7b538e2d8`` and ``3785162f95cd2d5fee77``): URLs, licence,
  BGR mean pixel; no checksum is published, so these downloads are not verified.
- MSRA (KaimingHe/deep-residual-networks README): 1-crop accuracies (centre 224 crop of the
  image resized to 256). The models are shared through an archive and a OneDrive folder, not
  one URL per file, so ``url`` is None: put the ``.caffemodel`` in the cache folder by hand
  (``kcnn.weights.download.cache_folder()``) or pass its path as ``weights=``.

``weights="imagenet"`` is the source marked ``default`` for the network: the one faithful to
the paper for kcnn's default variant where there is a choice (ResNet-50/101/152 v1:
keras.applications' port of MSRA's models; VGG-16/19: keras.applications; AlexNet and
GoogLeNet: BVLC), and the only published checkpoint otherwise.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import types
from collections.abc import Mapping

__all__ = ["WeightSource", "SOURCES", "HASH_LENGTHS", "sources_for", "resolve",
           "source_names", "models_with_sources", "is_path", "merge_variant"]

# Hex digits of each digest; torchvision's sha256 is a prefix (8 digits, in the file name).
HASH_LENGTHS = {"md5": (32,), "sha1": (40,), "sha256": (8, 64)}


@dataclasses.dataclass(frozen=True)
class WeightSource:
    """One published checkpoint of one kcnn network.

    Attributes:
        name: source name, unique per network ("keras", "torchvision_v1", "torchvision_v2",
            "bvlc", "msra", "vgg_caffe"); ``kcnn.build(model, weights=name)``.
        model: the registered kcnn network it loads into.
        origin: who publishes it.
        url: download URL, or None when there is no stable per-file URL.
        file_name: the publisher's file name (the name in the cache folder).
        file_hash: the publisher's checksum (hex), or None when none is published.
        hash_algorithm: "md5", "sha1" or "sha256" (torchvision: the first 8 hex digits of
            the sha256, checked as a prefix), or None.
        format: checkpoint format read by ``kcnn.weights.read_checkpoint``: "keras_h5",
            "torch_zip" or "caffe".
        variant: builder arguments the checkpoint needs (``kcnn.build`` passes them).
        preprocessing: mode of ``kcnn.preprocessing`` the checkpoint was trained with.
        top1: published top-1 accuracy in percent on ILSVRC-2012 val, or None.
        top5: published top-5 accuracy in percent, or None.
        license: the publisher's licence terms, in their words where they give some.
        size_bytes: download size; approximate where the publisher gives megabytes.
        default: whether ``weights="imagenet"`` selects this source.
        notes: how the figures were measured, and anything a user must know.
        resize_size: shorter side the evaluation resizes to before the centre crop.
        crop_size: side of the evaluation centre crop (the network's input).
        notop_file_name: keras.applications' smaller file without the classifier, if any.
        notop_file_hash: its checksum (same algorithm).
    """

    name: str
    model: str
    origin: str
    url: str | None
    file_name: str
    file_hash: str | None
    hash_algorithm: str | None
    format: str
    variant: Mapping
    preprocessing: str
    top1: float | None
    top5: float | None
    license: str
    size_bytes: int | None
    default: bool
    notes: str = ""
    resize_size: int = 256
    crop_size: int = 224
    notop_file_name: str | None = None
    notop_file_hash: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "variant", types.MappingProxyType(dict(self.variant)))

    @property
    def notop_url(self):
        """URL of the file without the classifier (keras.applications), or None."""
        if self.url is None or self.notop_file_name is None:
            return None
        return self.url.rsplit("/", 1)[0] + "/" + self.notop_file_name

    @property
    def hash_is_prefix(self):
        """True where the publisher gives only the start of the digest (torchvision)."""
        return (self.file_hash is not None
                and len(self.file_hash) < max(HASH_LENGTHS[self.hash_algorithm]))


def _mib(megabytes):
    return int(round(megabytes * 1024 * 1024))


# === keras.applications ===
_KERAS_APPS = "https://storage.googleapis.com/tensorflow/keras-applications/"
_KERAS_LICENSE = {"vgg": "ported by Keras from the VGG team's release under the Creative "
                         "Commons Attribution License",
                  "resnet": "ported by Keras from Kaiming He's release under the MIT license"}
_KERAS_NOTES = ("keras.io's table: single centre crop, 224x224, measured by Keras on the "
                "ILSVRC-2012 validation set; input BGR minus the mean pixel "
                "(preprocess_input 'caffe' mode)")


def _keras_vgg(depth, md5, notop_md5, top1, top5, megabytes):
    stem = f"vgg{depth}_weights_tf_dim_ordering_tf_kernels"
    return WeightSource(
        name="keras", model=f"vgg{depth}", origin="keras.applications",
        url=f"{_KERAS_APPS}vgg{depth}/{stem}.h5", file_name=f"{stem}.h5", file_hash=md5,
        hash_algorithm="md5", format="keras_h5", variant={}, preprocessing="caffe",
        top1=top1, top5=top5, license=_KERAS_LICENSE["vgg"], size_bytes=_mib(megabytes),
        default=True,
        notes=_KERAS_NOTES + "; weights converted from the VGG team's Caffe release",
        notop_file_name=f"{stem}_notop.h5", notop_file_hash=notop_md5)


def _keras_resnet(depth, md5, notop_md5, top1, top5, megabytes):
    stem = f"resnet{depth}_weights_tf_dim_ordering_tf_kernels"
    return WeightSource(
        name="keras", model=f"resnet{depth}", origin="keras.applications",
        url=f"{_KERAS_APPS}resnet/{stem}.h5", file_name=f"{stem}.h5", file_hash=md5,
        hash_algorithm="md5", format="keras_h5",
        variant={"bn_epsilon": 1.001e-5, "stride_in_3x3": False, "stem_pool": "padded"},
        preprocessing="caffe", top1=top1, top5=top5, license=_KERAS_LICENSE["resnet"],
        size_bytes=_mib(megabytes), default=True,
        notes=_KERAS_NOTES + ("; ported from MSRA's Caffe ResNet (v1: stride on the first "
                              "1x1), with keras's zero-padded stem pooling and BatchNorm "
                              "epsilon 1.001e-5; its convolution biases are folded into "
                              "BatchNorm"),
        notop_file_name=f"{stem}_notop.h5", notop_file_hash=notop_md5)


_KERAS = (
    _keras_vgg(16, "64373286793e3c8b2b4e3219cbf3544b", "6d6bbae143d832006294945121d1f1fc",
               71.3, 90.1, 528),
    _keras_vgg(19, "cbe5617147190e668d6c5d5026f83318", "253f8cb515780f3b799900260a226db6",
               71.3, 90.0, 549),
    _keras_resnet(50, "2cb95161c43110f7111970584f804107", "4d473c1dd8becc155b73f8504c6f6626",
                  74.9, 92.1, 98),
    _keras_resnet(101, "f1aeb4b969a6efcfb50fad2f0c20cfc5",
                  "88cf7a10940856eca736dc7b7e228a21", 76.4, 92.8, 171),
    _keras_resnet(152, "100835be76be38e30d865e96f2aaae62",
                  "ee4c566cf9a93f14d82f913c2dc6dd0c", 76.6, 93.1, 232),
)

# === torchvision ===
_TV = "https://download.pytorch.org/models/"
_TV_LICENSE = ("BSD-3-Clause (torchvision); torchvision notes that pretrained weights may "
               "carry terms derived from their training data (ImageNet)")


def _torchvision(model, version, file_name, top1, top5, mebibytes, *, default,
                 resize_size=256):
    stride_in_3x3 = model in ("resnet50", "resnet101", "resnet152")
    if model.startswith("resnet"):  # torch's BatchNorm epsilon, zero-padded stem pooling
        variant = {"stride_in_3x3": True} if stride_in_3x3 else {}
        variant.update(bn_epsilon=1e-5, stem_pool="padded")
    else:
        variant = {"bn_epsilon": 1e-5} if model.endswith("_bn") else {}
    recipe = ("TorchVision's newer training recipe, evaluated after resizing to 232"
              if version == 2 else "torchvision's simple recipe reproducing the paper")
    notes = (f"torchvision IMAGENET1K_V{version} metadata (acc@1/acc@5 on ImageNet-1K val, "
             f"bilinear resize to {resize_size}, centre crop 224, RGB in [0, 1] normalised "
             f"by mean/std); {recipe}")
    if stride_in_3x3:
        notes += "; ResNet v1.5 (stride on the 3x3), so stride_in_3x3=True"
    if model.endswith("_bn"):
        notes += "; convolution biases before BatchNorm are folded into its moving mean"
    if model.startswith("vgg"):
        notes += "; fc1's rows are permuted from torch's CHW flatten order to HWC"
    return WeightSource(
        name=f"torchvision_v{version}", model=model, origin="torchvision",
        url=_TV + file_name, file_name=file_name,
        file_hash=file_name.rsplit("-", 1)[1].split(".")[0], hash_algorithm="sha256",
        format="torch_zip", variant=variant,
        preprocessing="torch", top1=top1, top5=top5, license=_TV_LICENSE,
        size_bytes=_mib(mebibytes), default=default, notes=notes, resize_size=resize_size)


_TORCHVISION = (
    _torchvision("resnet18", 1, "resnet18-f37072fd.pth", 69.758, 89.078, 44.661, default=True),
    _torchvision("resnet34", 1, "resnet34-b627a593.pth", 73.314, 91.420, 83.275, default=True),
    _torchvision("resnet50", 1, "resnet50-0676ba61.pth", 76.130, 92.862, 97.781,
                 default=False),
    _torchvision("resnet50", 2, "resnet50-11ad3fa6.pth", 80.858, 95.434, 97.79,
                 default=False, resize_size=232),
    _torchvision("resnet101", 1, "resnet101-63fe2227.pth", 77.374, 93.546, 170.511,
                 default=False),
    _torchvision("resnet101", 2, "resnet101-cd907fc2.pth", 81.886, 95.780, 170.53,
                 default=False, resize_size=232),
    _torchvision("resnet152", 1, "resnet152-394f9c45.pth", 78.312, 94.046, 230.434,
                 default=False),
    _torchvision("resnet152", 2, "resnet152-f82ba261.pth", 82.284, 96.002, 230.474,
                 default=False, resize_size=232),
    _torchvision("vgg11", 1, "vgg11-8a719046.pth", 69.020, 88.628, 506.84, default=True),
    _torchvision("vgg11_bn", 1, "vgg11_bn-6002323d.pth", 70.370, 89.810, 506.881,
                 default=True),
    _torchvision("vgg13", 1, "vgg13-19584684.pth", 69.928, 89.246, 507.545, default=True),
    _torchvision("vgg13_bn", 1, "vgg13_bn-abd245e5.pth", 71.586, 90.374, 507.59,
                 default=True),
    _torchvision("vgg16", 1, "vgg16-397923af.pth", 71.592, 90.382, 527.796, default=False),
    _torchvision("vgg16_bn", 1, "vgg16_bn-6c64b313.pth", 73.360, 91.516, 527.866,
                 default=True),
    _torchvision("vgg19", 1, "vgg19-dcbb9e9d.pth", 72.376, 90.876, 548.051, default=False),
    _torchvision("vgg19_bn", 1, "vgg19_bn-c79401a0.pth", 74.218, 91.842, 548.143,
                 default=True),
)

# === The papers' own Caffe releases ===
_BVLC = "http://dl.caffe.berkeleyvision.org/"
_CAFFE = (
    WeightSource(
        name="bvlc", model="alexnet", origin="BVLC Caffe model zoo",
        url=_BVLC + "bvlc_alexnet.caffemodel", file_name="bvlc_alexnet.caffemodel",
        file_hash="9116a64c0fbe4459d18f4bb6b56d647b63920377", hash_algorithm="sha1",
        format="caffe",
        variant={"groups": 2, "lrn": "paper", "lrn_k": 1.0, "lrn_convention": "caffe"},
        preprocessing="caffe_ilsvrc12", top1=57.1, top5=80.2,
        license="unrestricted use (BVLC model zoo readme)", size_bytes=None, default=True,
        notes=("BVLC readme: centre crop only, iteration 360,000 snapshot; trained on "
               "images warped to 256x256 minus Caffe's per-pixel ILSVRC-2012 mean image "
               "(BGR). The mean image is not shipped: kcnn subtracts its per-channel means "
               "(B 104.007, G 116.669, R 122.679), or the image itself when "
               "for_model(..., mean_image=PATH) is given"),
        crop_size=227),
    WeightSource(
        name="bvlc", model="googlenet", origin="BVLC Caffe model zoo",
        url=_BVLC + "bvlc_googlenet.caffemodel", file_name="bvlc_googlenet.caffemodel",
        file_hash="405fc5acd08a3bb12de8ee5e23a96bec22f08204", hash_algorithm="sha1",
        format="caffe", variant={"lrn": True}, preprocessing="caffe_bvlc", top1=68.7,
        top5=88.9,
        license="unrestricted use (BVLC model zoo readme)", size_bytes=None, default=True,
        notes=("BVLC readme: centre crop only, iteration 2,400,000 snapshot (quick_solver); "
               "train_val.prototxt subtracts mean_value 104/117/123 (BGR); Caffe's LRN "
               "(k=1, alpha divided by n), as kcnn's GoogLeNet already uses")),
    *(WeightSource(
        name="vgg_caffe", model=f"vgg{depth}", origin="Visual Geometry Group, Oxford",
        url=f"http://www.robots.ox.ac.uk/~vgg/software/very_deep/caffe/{file}.caffemodel",
        file_name=f"{file}.caffemodel", file_hash=None, hash_algorithm=None, format="caffe",
        variant={}, preprocessing="caffe", top1=None, top5=top5,
        license=licence,
        size_bytes=None, default=False,
        notes=("VGG's gist publishes no checksum: the download is not verified. Input BGR "
               "minus the mean pixel [103.939, 116.779, 123.68]. " + figures))
      for depth, file, top5, licence, figures in (
          (16, "VGG_ILSVRC_16_layers", 91.9,
           "see http://www.robots.ox.ac.uk/~vgg/research/very_deep/ (named by the model gist)",
           "Published top-5: 8.1% error with dense single-scale evaluation (smallest side "
           "384), Table 3 of the paper; no centre-crop figure is published"),
          (19, "VGG_ILSVRC_19_layers", None,
           "Creative Commons Attribution-NonCommercial 4.0 (the model gist)",
           "The gist cites Tables 3-4 of the paper (dense evaluation); kcnn lists no "
           "figure it could not confirm"))),
    *(WeightSource(
        name="msra", model=f"resnet{depth}", origin="MSRA (He et al.)", url=None,
        file_name=f"ResNet-{depth}-model.caffemodel", file_hash=None, hash_algorithm=None,
        format="caffe",
        variant={"stem_pool": "caffe", "stride_in_3x3": False, "bn_epsilon": 1e-5},
        preprocessing="caffe",
        top1=top1, top5=top5, license="MIT (KaimingHe/deep-residual-networks)",
        size_bytes=None, default=False,
        notes=("KaimingHe/deep-residual-networks README: 1-crop validation (centre 224 "
               "crop, shorter side 256). Distributed in an archive and a OneDrive folder, "
               "with no per-file URL or checksum: place the file by hand. Caffe's pool1 is "
               "3x3/2 unpadded in ceil mode (stem_pool='caffe'); trained with a per-pixel "
               "mean image, approximated by the mean pixel"))
      for depth, top1, top5 in ((50, 75.3, 92.2), (101, 76.4, 92.9), (152, 77.0, 93.3))),
)

SOURCES = _KERAS + _TORCHVISION + _CAFFE


def _normalize(model_name):
    from kcnn.registry import get_spec

    return get_spec(model_name).name


def models_with_sources():
    """Names of the networks with at least one published checkpoint, in registry order."""
    from kcnn.registry import list_models

    have = {s.model for s in SOURCES}
    return tuple(n for n in list_models() if n in have)


def sources_for(model_name):
    """The published checkpoints of ``model_name``, the default first.

    Raises:
        ValueError: if ``model_name`` is not a registered network.
    """
    name = _normalize(model_name)
    return tuple(sorted((s for s in SOURCES if s.model == name), key=lambda s: not s.default))


def source_names(model_name):
    """``("imagenet", <source names>...)`` accepted by ``resolve`` for ``model_name``."""
    found = sources_for(model_name)
    return (("imagenet",) if found else ()) + tuple(s.name for s in found)


def is_path(weights):
    """Whether ``weights`` is a file rather than "imagenet" or a source name: a path object,
    the path of an existing file, or any string but a single word (letters, digits, ``_``,
    ``-``), so ``"model.pth"`` or ``"runs/a"`` is a path even before it exists."""
    if isinstance(weights, os.PathLike):
        return True
    return isinstance(weights, str) and (
        re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", weights) is None or os.path.exists(weights))


def merge_variant(variant, kwargs, *, what, model):
    """``{**variant, **kwargs}``: the builder arguments of a checkpoint's variant under the
    caller's, refusing one the caller sets to another value.

    Args:
        variant: the builder arguments the checkpoint needs (``WeightSource.variant``).
        kwargs: the caller's builder arguments.
        what: the checkpoint, for the message.
        model: the network's registered name, for the message.

    Raises:
        ValueError: naming the first contradicting argument and the value it needs.
    """
    for key, value in variant.items():
        if key in kwargs and kwargs[key] != value:
            raise ValueError(
                f"{what} needs {key}={value!r}; leave `{key}` out or choose another source "
                f"(kcnn.get_spec({model!r}).weights). Received: {key}={kwargs[key]!r}")
    return {**variant, **kwargs}


def resolve(model_name, weights):
    """The checkpoint ``weights`` names for ``model_name``.

    Args:
        model_name: a registered network (any case).
        weights: "imagenet" (the network's default source) or a source name such as
            "keras", "torchvision_v1", "torchvision_v2", "bvlc", "msra", "vgg_caffe".

    Returns:
        The ``WeightSource``.

    Raises:
        TypeError: if ``weights`` is not a string.
        ValueError: for an unknown network, a network without published weights, or an
            unknown source name (the message lists the network's sources and the closest
            match).
    """
    if not isinstance(weights, str):
        raise TypeError(f"`weights` must be 'imagenet', a source name or a file path. "
                        f"Received: weights={weights!r}")
    name = _normalize(model_name)
    found = sources_for(name)
    if not found:
        have = ", ".join(models_with_sources())
        raise ValueError(f"No published weights are known for {name!r}; networks with "
                         f"published weights: {have}. Pass a file path to load your own. "
                         f"Received: weights={weights!r}")
    key = weights.strip().lower().replace("-", "_")
    if key == "imagenet":
        return found[0]
    for source in found:
        if source.name == key:
            return source
    choices = source_names(name)
    close = difflib.get_close_matches(key, choices, n=1, cutoff=0.5)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"Unknown weights source {weights!r} for {name!r}; expected one of "
                     f"{', '.join(repr(c) for c in choices)}, or a file path.{hint} "
                     f"Received: weights={weights!r}")
