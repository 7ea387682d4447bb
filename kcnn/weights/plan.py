"""The assignment plan shared by every family mapping: which model variable receives which
converted tensor of the file, with the checks that make a wrong file fail loudly.

A mapping walks the model's layers in order and, for each, takes the tensors the publisher
stores for it through a ``Reader`` of the file's format (``KerasReader``, ``TorchReader``,
``CaffeReader``: each returns Keras-layout arrays). A tensor the file lacks, or of another
shape, stops the walk with an error naming that layer, the first that differs; tensors left
over at the end (a deeper network's file) are refused too. Only the classifier
(``predictions``) may be left to its fresh initialization, when the model's classes differ
or the file has none.
"""

from __future__ import annotations

import numpy as np

from kcnn.weights.convert import (caffe_batch_norm_statistics, conv_kernel_from_oihw,
                                  dense_kernel_from_out_in, fold_bias_into_bn,
                                  permute_flatten_chw_to_hwc)

__all__ = ["Plan", "WeightsMismatchError", "KerasReader", "TorchReader", "CaffeReader",
           "reader_for"]


class WeightsMismatchError(ValueError):
    """A checkpoint that does not fit the model (another network, depth or size)."""


class Plan:
    """Pairs of (model variable, array) gathered by a mapping, checked as they come."""

    def __init__(self, checkpoint, model, *, origin, variant):
        self.checkpoint = checkpoint
        self.model = model
        self.origin = origin
        self.variant = dict(variant)
        self.entries = []  # (layer, variable, array, source key)
        self.head = []  # the classifier's entries, decided by the loader
        self.head_missing = False
        self.used = set()
        self.ignored = set()

    # === Reading the file ===
    def fail(self, message):
        raise WeightsMismatchError(f"`weights` file {self.checkpoint.path!r} ({self.origin}) "
                                   f"does not fit model {self.model.name!r}: {message}")

    def missing(self, layer, key):
        first = ", ".join(list(self.checkpoint.tensors)[:4])
        self.fail(f"layer {layer!r} needs {key!r}, which the file does not have (its first "
                   f"tensors: {first}). Is it a checkpoint of another network?")

    def take(self, key, *, layer):
        if key not in self.checkpoint.tensors:
            self.missing(layer, key)
        self.used.add(key)
        return self.checkpoint.tensors[key]

    def take_layer(self, name, *, layer, count=None):
        keys = (self.checkpoint.layers or {}).get(name)
        if not keys:
            self.missing(layer, name)
        if count is not None and len(keys) not in count:
            self.fail(f"layer {layer!r} expects {' or '.join(map(str, count))} tensors in "
                       f"the file's layer {name!r}, which has {len(keys)}.")
        self.used.update(keys)
        return [self.checkpoint.tensors[k] for k in keys]

    def skip(self, keys):
        """Marks tensors of the file as deliberately not loaded (e.g. a dropped top)."""
        self.used.update(k for k in keys if k in self.checkpoint.tensors)

    def ignore(self, keys):
        """Marks tensors the model has no use for (torch's ``num_batches_tracked``)."""
        self.ignored.update(keys)

    def leftover(self):
        return [k for k in self.checkpoint.tensors if k not in self.used
                and k not in self.ignored]

    # === Filling the model ===
    def put(self, layer, variable, array, source, *, head=False):
        array = np.asarray(array)
        if head:
            self.head.append((layer, variable, array, source))
            return
        if tuple(array.shape) != tuple(variable.shape):
            self.fail(f"layer {layer!r}: {variable.name} has shape {tuple(array.shape)} in "
                       f"the file ({source!r}) but {tuple(variable.shape)} in the model.")
        self.entries.append((layer, variable, array, source))

    def finish(self):
        left = self.leftover()
        if left:
            self.fail(f"the file has {len(left)} tensors the model has no place for, "
                       f"starting with {left[0]!r}: a checkpoint of a deeper or other network?")


class _Reader:
    """Keras-layout arrays of one layer, whatever the file's layout."""

    def __init__(self, plan):
        self.plan = plan

    def conv_bn(self, conv_layer, bn_layer, conv_name, bn_name, *, where):
        """A convolution followed by BN; a file's conv bias folds into the moving mean."""
        kernel, bias, source = self.conv(conv_name, where=where)
        gamma, beta, mean, variance, bn_source = self.bn(bn_name, where=where)
        if bias is not None:
            mean = fold_bias_into_bn(bias, mean)
        self.plan.put(where, conv_layer.kernel, kernel, source)
        for variable, array in ((bn_layer.gamma, gamma), (bn_layer.beta, beta),
                                (bn_layer.moving_mean, mean),
                                (bn_layer.moving_variance, variance)):
            self.plan.put(where, variable, array, bn_source)

    def conv_biased(self, conv_layer, name, *, where):
        kernel, bias, source = self.conv(name, where=where)
        if bias is None:
            self.plan.missing(where, f"{name} (bias)")
        self.plan.put(where, conv_layer.kernel, kernel, source)
        self.plan.put(where, conv_layer.bias, bias, source)

    def dense(self, layer, name, *, where, feature_shape=None, head=False):
        kernel, bias, source = self._dense(name, where=where)
        if feature_shape is not None:
            h, w, c = feature_shape
            if kernel.shape[0] != h * w * c:
                self.plan.fail(f"layer {where!r}: {layer.kernel.name} has "
                                f"{kernel.shape[0]} inputs in the file ({source!r}) but "
                                f"{h * w * c} (= {h} x {w} x {c}) in the model; build the "
                                "model at the checkpoint's input size.")
            kernel = permute_flatten_chw_to_hwc(kernel, feature_shape)
        self.plan.put(where, layer.kernel, kernel, source, head=head)
        self.plan.put(where, layer.bias, bias, source, head=head)


class _LayerGroupReader(_Reader):
    """Files that group their arrays by layer name (keras.applications' HDF5, Caffe)."""

    def has(self, name):
        return bool((self.plan.checkpoint.layers or {}).get(name))

    def layer_keys(self, name):
        return (self.plan.checkpoint.layers or {}).get(name, [])


class KerasReader(_LayerGroupReader):
    """keras.applications' HDF5: layer groups of ``[kernel, bias]`` and ``[gamma, beta,
    moving_mean, moving_variance]``, already in Keras's layout."""

    def conv(self, name, *, where):
        arrays = self.plan.take_layer(name, layer=where, count=(1, 2))
        return arrays[0], (arrays[1] if len(arrays) > 1 else None), name

    def bn(self, name, *, where):
        gamma, beta, mean, variance = self.plan.take_layer(name, layer=where, count=(4,))
        return gamma, beta, mean, variance, name

    def _dense(self, name, *, where):
        kernel, bias = self.plan.take_layer(name, layer=where, count=(2,))
        return kernel, bias, name


class TorchReader(_Reader):
    """torchvision state dicts (``.pth`` or ``.safetensors``): ``<module>.weight`` /
    ``.bias``; BatchNorm ``weight, bias, running_mean, running_var``."""

    def has(self, name):
        return f"{name}.weight" in self.plan.checkpoint.tensors

    def layer_keys(self, name):
        return [k for k in self.plan.checkpoint.tensors if k.startswith(f"{name}.")]

    def conv(self, name, *, where):
        kernel = conv_kernel_from_oihw(self.plan.take(f"{name}.weight", layer=where))
        key = f"{name}.bias"
        bias = self.plan.take(key, layer=where) if key in self.plan.checkpoint.tensors else None
        return kernel, bias, f"{name}.weight"

    def bn(self, name, *, where):
        arrays = [self.plan.take(f"{name}.{k}", layer=where)
                  for k in ("weight", "bias", "running_mean", "running_var")]
        self.plan.ignore([f"{name}.num_batches_tracked"])
        return (*arrays, f"{name}.running_mean")

    def _dense(self, name, *, where):
        kernel = dense_kernel_from_out_in(self.plan.take(f"{name}.weight", layer=where))
        return kernel, self.plan.take(f"{name}.bias", layer=where), f"{name}.weight"


class CaffeReader(_LayerGroupReader):
    """Caffe blobs: ``[weight, bias]`` per Convolution / InnerProduct layer; BatchNorm
    ``[mean, variance, scale factor]`` followed by a Scale layer ``[gamma, beta]`` (``bn``
    takes the pair of names)."""

    def conv(self, name, *, where):
        arrays = self.plan.take_layer(name, layer=where, count=(1, 2))
        kernel = conv_kernel_from_oihw(arrays[0])
        return kernel, (arrays[1].ravel() if len(arrays) > 1 else None), name

    def bn(self, names, *, where):
        bn_name, scale_name = names
        mean, variance, factor = self.plan.take_layer(bn_name, layer=where, count=(3,))
        mean, variance = caffe_batch_norm_statistics(mean, variance, factor)
        scale = self.plan.take_layer(scale_name, layer=where, count=(1, 2))
        gamma = scale[0].ravel()
        beta = scale[1].ravel() if len(scale) > 1 else np.zeros_like(gamma)
        return gamma, beta, mean, variance, bn_name

    def _dense(self, name, *, where):
        weight, bias = self.plan.take_layer(name, layer=where, count=(2,))
        return dense_kernel_from_out_in(weight), bias.ravel(), name


def reader_for(plan):
    """The reader of ``plan``'s checkpoint format."""
    fmt = plan.checkpoint.format
    if fmt == "keras_h5":
        return KerasReader(plan)
    if fmt in ("torch_zip", "safetensors"):
        return TorchReader(plan)
    if fmt == "caffe":
        return CaffeReader(plan)
    raise ValueError(f"No reader for checkpoint format {fmt!r}.")
