"""Which pixels a class score depends on: Grad-CAM, saliency, SmoothGrad, occlusion.

- Grad-CAM (Selvaraju et al., ICCV 2017, arXiv:1610.02391): the feature maps ``A^k`` of a
  convolutional layer weighted by the spatial mean of ``d y^c / d A^k``, summed over ``k``,
  rectified, scaled to [0, 1] and resized to the input. ``y^c`` is the class score before
  the softmax, as in the paper (section 3).
- Vanilla saliency (Simonyan, Vedaldi & Zisserman 2013, arXiv:1312.6034, section 3.1): the
  largest absolute value over channels of ``d y^c / d image``.
- SmoothGrad (Smilkov et al. 2017, arXiv:1706.03825): the same gradient averaged over copies
  of the image with Gaussian noise of standard deviation ``noise * (max - min)``.
- Occlusion sensitivity (Zeiler & Fergus, ECCV 2014, section 4.2): how much the model's
  output for the class drops when a square patch of the image is replaced by a grey value.

Gradients use TensorFlow's ``GradientTape`` (Keras 3 has no backend-neutral gradient API);
occlusion uses only forward passes and works on any backend. Everything is computed in
float32 whatever the dtype policy (``mixed_float16``/``mixed_bfloat16`` feature maps and
gradients are cast before the arithmetic). Feature maps are read through
``kcnn.feature_extractor``, which shares the network's layers and weights.
"""

from __future__ import annotations

import numbers

import numpy as np

from kcnn.visualize import _grid
from kcnn.visualize.activations import _check_images

__all__ = ["default_cam_layer", "cell_centres", "class_scores", "grad_cam", "saliency", "smooth_grad",
           "occlusion", "attributions", "overlay", "METHODS"]

# Layers that act pixel by pixel on the map before them: Grad-CAM takes the map after them
# (the rectified map the next stage sees).
_ELEMENTWISE = ("BatchNormalization", "Activation", "ReLU", "LeakyReLU", "PReLU", "ELU",
                "LocalResponseNormalization", "APL", "RReLU")


def _producer(tensor):
    return tensor._keras_history.operation


def _is_convolutional(layer):
    from kcnn.visualize.filters import _layer_kernel

    return hasattr(layer, "sublayer_shapes") or _layer_kernel(layer) is not None


def default_cam_layer(model):
    """The layer Grad-CAM uses by default: the last convolution (or convolutional block) whose
    output map is larger than 1x1 and has more than one channel, taken after the
    batch normalization and activation that directly follow it. Shapes are read from
    ``kcnn.summary``'s rows.

    LeNet-5 at 32x32 gives C3 (10x10x16; C5 is 1x1), ResNet-50 at 224x224 ``conv5_block3``
    (7x7), at 32x32 ``conv4_block6`` (2x2); VGG-16 ``block5_conv3``; GoogLeNet
    ``inception5b``; AlphaGo's policy network ``conv12`` (``conv13`` has one channel).

    Raises:
        ValueError: the model has no such layer.
    """
    from kcnn.analysis import summary

    shapes = {r.name: r.output_shape for r in summary(model).rows if r.depth == 0}
    chosen = None
    for layer in model.layers:
        shape = shapes.get(layer.name)
        if shape is None or len(shape) != 3:
            continue
        big = (shape[0] or 2) > 1 and (shape[1] or 2) > 1 and (shape[2] or 2) > 1
        if big and _is_convolutional(layer):
            chosen = layer.name
        elif chosen is not None and type(layer).__name__ in _ELEMENTWISE:
            source = _grid.first_input(layer)
            if source is not None and _producer(source).name == chosen:
                chosen = layer.name
    if chosen is None:
        raise ValueError(f"Model {model.name!r} has no convolutional output larger than "
                         "1x1 for Grad-CAM; pass `layer=`.")
    return chosen


def _score_head(model):
    """(name of the layer feeding the class scores, function from its output to float32
    scores, whether a softmax was removed). A final softmax is undone: a softmax ``Activation`` is skipped, a ``Dense`` with
    softmax is applied without it, so the scores are the logits."""
    import keras

    last = _producer(model.outputs[0])
    activation = getattr(last, "activation", None)
    is_softmax = getattr(activation, "__name__", "") == "softmax" or \
        type(last).__name__ == "Softmax"
    source = _grid.first_input(last)
    if not is_softmax or source is None or _producer(source) not in model.layers:
        return last.name, lambda t: keras.ops.cast(t, "float32"), False
    if type(last).__name__ == "Dense":
        def head(t):
            t = keras.ops.cast(t, "float32")
            out = keras.ops.matmul(t, keras.ops.cast(last.kernel, "float32"))
            if last.use_bias:
                out = out + keras.ops.cast(last.bias, "float32")
            return out
        return _producer(source).name, head, True
    if type(last).__name__ in ("Activation", "Softmax"):
        return _producer(source).name, lambda t: keras.ops.cast(t, "float32"), True
    return last.name, lambda t: keras.ops.cast(t, "float32"), False


def _check_class_index(class_index, n, num_classes):
    """``class_index`` (None, an int, or one int per image) as an int array or None."""
    if class_index is None:
        return None
    values = np.full(n, class_index) if isinstance(class_index, numbers.Integral) \
        else np.asarray(class_index)
    if isinstance(class_index, bool) or values.shape != (n,) or \
            not np.issubdtype(values.dtype, np.integer):
        raise ValueError("`class_index` must be None (the predicted class), a class number "
                         f"or one per image ({n}). Received: class_index={class_index!r}")
    if values.min() < 0 or values.max() >= num_classes:
        raise ValueError(f"`class_index` must lie in [0, {num_classes}). "
                         f"Received: class_index={class_index!r}")
    return values.astype("int32")


def class_scores(model, images):
    """The class scores Grad-CAM and saliency differentiate (logits: a final softmax
    removed), as float32 ``(n, classes)``."""
    from kcnn.features import feature_extractor

    images = _check_images(model, images)
    source, head, _ = _score_head(model)
    outputs = feature_extractor(model, [source])(images, training=False)
    return _grid.to_numpy(head(outputs[source]))


def _gradients(model, images, class_index, layer):
    """(feature maps or images, d score / d those, classes, the model's first output):
    float32 numpy arrays.

    ``layer=None`` differentiates with respect to the images.
    """
    import keras

    if keras.backend.backend() != "tensorflow":
        raise RuntimeError("Grad-CAM, saliency and SmoothGrad take gradients with TensorFlow's "
                           "GradientTape; the Keras backend is "
                           f"{keras.backend.backend()!r}. `occlusion` works on any backend.")
    import tensorflow as tf

    from kcnn.features import feature_extractor

    source, head, softmax = _score_head(model)
    names = [source] if layer in (None, source) else [layer, source]
    extractor = feature_extractor(model, names)
    x = tf.convert_to_tensor(images, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        outputs = extractor(x, training=False)
        scores = head(outputs[source])
        classes = _check_class_index(class_index, len(images), scores.shape[-1])
        if classes is None:
            classes = np.argmax(_grid.to_numpy(scores), axis=-1).astype("int32")
        picked = tf.reduce_sum(tf.gather(scores, classes, axis=1, batch_dims=1))
        target = x if layer is None else outputs[layer]
    grads = tape.gradient(picked, target)
    if grads is None:
        raise ValueError(f"The class score of {model.name!r} does not depend on "
                         f"{'the input' if layer is None else repr(layer)}.")
    scores = _grid.to_numpy(scores)
    if softmax:  # the model's output, without another forward pass
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        scores /= scores.sum(axis=-1, keepdims=True)
    return _grid.to_numpy(target), _grid.to_numpy(grads), classes, scores


def cell_centres(model, layer):
    """Where the cells of ``layer``'s map sit on the input: ``((a_y, b_y), (a_x, b_x))`` such
    that cell ``i`` of the map is centred on input pixel ``a + b * i`` along each axis.

    Follows the layer's first input back to the image and composes each layer's window
    geometry (kernel or pool size, stride, "valid"/"same" padding, zero padding). A layer
    without window attributes that changes the size (a block, a custom layer) is taken as a
    centred window of stride ``in / out``. "Valid" convolutions shrink the map, so LeNet-5's
    C3 (10x10 at 32x32) covers pixels 6.5 to 24.5, not the whole image: stretching the map
    over the image would put the heat in the wrong place.
    """
    import math

    chain = []
    current = model.get_layer(layer)
    while current is not None and type(current).__name__ != "InputLayer":
        chain.append(current)
        source = _grid.first_input(current)
        current = _producer(source) if source is not None else None
    a, b = [0.0, 0.0], [1.0, 1.0]
    for item in reversed(chain):
        node = item._inbound_nodes[0]
        size_in = tuple(node.input_tensors[0].shape[1:3])
        size_out = tuple(node.outputs[0].shape[1:3])
        if len(node.outputs[0].shape) != 4:
            break
        for axis in (0, 1):
            n_in, n_out = size_in[axis], size_out[axis]
            local_a, local_b = 0.0, 1.0
            kind = type(item).__name__
            window = getattr(item, "kernel_size", None) or getattr(item, "pool_size", None)
            strides = getattr(item, "strides", None)
            if kind == "ZeroPadding2D":
                local_a = -float(item.padding[axis][0])
            elif kind == "Cropping2D":
                local_a = float(item.cropping[axis][0])
            elif isinstance(window, tuple) and isinstance(strides, tuple) and \
                    hasattr(item, "padding"):
                dilation = getattr(item, "dilation_rate", (1, 1))[axis]
                k = (window[axis] - 1) * dilation + 1
                s = strides[axis]
                before = 0
                if item.padding == "same" and n_in is not None:
                    before = max((math.ceil(n_in / s) - 1) * s + k - n_in, 0) // 2
                local_a, local_b = (k - 1) / 2 - before, float(s)
            elif n_in and n_out and n_in != n_out:
                local_b = n_in / n_out
                local_a = (local_b - 1) / 2
            a[axis] += b[axis] * local_a
            b[axis] *= local_b
    return (a[0], b[0]), (a[1], b[1])


def _place(maps, centres, size):
    """Maps ``(n, h, w)`` whose cells sit at ``centres`` (see ``cell_centres``), linearly
    interpolated onto the input's pixel grid of ``size`` (edge values beyond the outer
    cells)."""
    out = maps
    for axis, ((a, b), length) in enumerate(zip(centres, size)):
        cells = maps.shape[axis + 1]
        u = np.clip((np.arange(length) - a) / b, 0, cells - 1)
        low = np.floor(u).astype(int)
        high = np.minimum(low + 1, cells - 1)
        frac = (u - low).astype("float32")
        shape = [1, 1, 1]
        shape[axis + 1] = length
        frac = frac.reshape(shape)
        out = np.take(out, low, axis=axis + 1) * (1 - frac) + \
            np.take(out, high, axis=axis + 1) * frac
    return out.astype("float32")


def _unit_scale(maps):
    """Each map divided by its maximum (maps that are all zero stay zero)."""
    top = maps.reshape(len(maps), -1).max(axis=1).reshape(-1, 1, 1)
    return np.where(top > 0, maps / np.where(top > 0, top, 1.0), 0.0).astype("float32")


def grad_cam(model, images, class_index=None, *, layer=None):
    """Grad-CAM heat maps of a class.

    Args:
        model: a built functional classifier (its first output gives the classes).
        images: one preprocessed image ``(h, w, c)`` or a batch.
        class_index: the class to explain: None for each image's predicted class, an int,
            or one int per image.
        layer: the convolutional layer (default ``default_cam_layer(model)``, the last map
            larger than 1x1).

    Returns:
        float32 ``(n, h, w)`` in [0, 1] at the input's size, each map divided by its
        maximum. The paper resizes the map bilinearly to the image; here each cell is put
        where it sits on the image (``cell_centres``) and interpolated linearly between
        cells, which is the same for "same"-padded networks and correct for "valid" ones.
    """
    return _grad_cam(model, images, class_index, layer)[0]


def _grad_cam(model, images, class_index, layer):
    """(Grad-CAM maps, the model's first output)."""
    images = _check_images(model, images)
    layer = default_cam_layer(model) if layer is None else layer
    fmaps, grads, _, outputs = _gradients(model, images, class_index, layer)
    if fmaps.ndim != 4:
        raise ValueError(f"Grad-CAM needs a layer with (height, width, channels) maps; "
                         f"{layer!r} gives shape {fmaps.shape[1:]}. Received: layer={layer!r}")
    weights = grads.mean(axis=(1, 2), keepdims=True)  # alpha_k^c, eq. (1)
    cam = np.maximum((weights * fmaps).sum(axis=-1), 0.0)  # eq. (2)
    return _unit_scale(_place(cam, cell_centres(model, layer), images.shape[1:3])), outputs


def saliency(model, images, class_index=None):
    """Vanilla gradient saliency: ``max_channels |d y^c / d image|``, each map divided by its
    maximum; float32 ``(n, h, w)`` in [0, 1]. Arguments as ``grad_cam``."""
    images = _check_images(model, images)
    _, grads, _, _ = _gradients(model, images, class_index, None)
    return _unit_scale(np.abs(grads).max(axis=-1))


def smooth_grad(model, images, class_index=None, *, samples=25, noise=0.15, seed=0):
    """SmoothGrad: the input gradient averaged over ``samples`` noisy copies (noise of
    standard deviation ``noise`` times each image's value range; the paper finds 10-20%
    best), then ``max_channels |.|``, each map divided by its maximum; float32 ``(n, h, w)``
    in [0, 1]. The class defaults to the prediction on the clean image."""
    images = _check_images(model, images)
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ValueError(f"`samples` must be a positive integer. Received: samples={samples!r}")
    if isinstance(noise, bool) or not isinstance(noise, numbers.Real) or noise < 0:
        raise ValueError(f"`noise` must be a number >= 0. Received: noise={noise!r}")
    scores = class_scores(model, images)
    classes = _check_class_index(class_index, len(images), scores.shape[-1])
    if classes is None:
        classes = np.argmax(scores, axis=-1).astype("int32")
    rng = np.random.default_rng(seed)
    spread = (images.reshape(len(images), -1).max(1) - images.reshape(len(images), -1).min(1))
    sigma = (noise * spread).reshape(-1, *([1] * (images.ndim - 1)))
    total = np.zeros(images.shape, "float32")
    for _ in range(samples):
        noisy = images + sigma * rng.standard_normal(images.shape).astype("float32")
        total += _gradients(model, noisy, classes, None)[1]
    return _unit_scale(np.abs(total / samples).max(axis=-1))


def occlusion(model, images, class_index=None, *, patch=None, stride=None, fill="mean",
              batch_size=128):
    """Occlusion sensitivity: the drop of the model's output for the class when a patch is
    greyed out, averaged over the patches covering each pixel.

    Args:
        model, images, class_index: as ``grad_cam``; the output compared is the model's
            first output (probabilities for a softmax classifier).
        patch: side of the square patch (default: an eighth of the image side, at least 1).
        stride: step between patches, at most ``patch`` (default: half the patch).
        fill: the patch's value: "mean" (each image's mean per channel) or a number.
        batch_size: occluded images per forward pass.

    Returns:
        float32 ``(n, h, w)``: positive where hiding the pixels lowers the class output
        (in units of that output), negative where it raises it.
    """
    images = _check_images(model, images)
    n, h, w = images.shape[:3]
    patch = max(1, round(min(h, w) / 8)) if patch is None else patch
    for name, value in (("patch", patch), ("stride", stride), ("batch_size", batch_size)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < 1):
            raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
    if patch > min(h, w):
        raise ValueError(f"`patch` must fit the {h}x{w} image. Received: patch={patch}")
    if not (fill == "mean" or (isinstance(fill, numbers.Real) and not isinstance(fill, bool))):
        raise ValueError(f'`fill` must be "mean" or a number. Received: fill={fill!r}')
    stride = max(1, patch // 2) if stride is None else stride
    if stride > patch:  # pixels between the patches would have no value (0 / 0)
        raise ValueError(f"`stride` must be at most `patch` ({patch}) so that every pixel "
                         f"is occluded. Received: stride={stride}")

    def predict(batch):
        out = model(batch, training=False)
        out = out[0] if isinstance(out, (list, tuple)) else out
        return _grid.to_numpy(out).reshape(len(batch), -1)

    base = np.concatenate([predict(images[i:i + batch_size])
                           for i in range(0, n, batch_size)])
    classes = _check_class_index(class_index, n, base.shape[-1])
    if classes is None:
        classes = base.argmax(axis=-1)
    tops = sorted(set(range(0, h - patch + 1, stride)) | {h - patch})
    lefts = sorted(set(range(0, w - patch + 1, stride)) | {w - patch})
    spots = [(t, l) for t in tops for l in lefts]
    heat = np.zeros((n, h, w), "float32")
    count = np.zeros((h, w), "float32")
    for t, l in spots:
        count[t:t + patch, l:l + patch] += 1
    for i in range(n):
        value = images[i].mean(axis=(0, 1)) if fill == "mean" else float(fill)
        for start in range(0, len(spots), batch_size):
            chunk = spots[start:start + batch_size]
            batch = np.repeat(images[i:i + 1], len(chunk), axis=0)
            for j, (t, l) in enumerate(chunk):
                batch[j, t:t + patch, l:l + patch] = value
            drops = base[i, classes[i]] - predict(batch)[:, classes[i]]
            for (t, l), drop in zip(chunk, drops):
                heat[i, t:t + patch, l:l + patch] += drop
    return heat / count


METHODS = {"grad_cam": grad_cam, "saliency": saliency, "smooth_grad": smooth_grad,
           "occlusion": occlusion}
_TITLES = {"grad_cam": "Grad-CAM", "saliency": "saliency", "smooth_grad": "SmoothGrad",
           "occlusion": "occlusion"}


def overlay(ax, image, heat=None, *, signed=False, alpha=0.75):
    """Draws ``image`` (grey or RGB) on a matplotlib axis with ``heat`` over it, more opaque
    where the heat is larger so the image shows through where it is small: ``jet`` from 0 to
    1, or a zero-centred diverging scale (red: the class output drops) when ``signed``."""
    from matplotlib import colormaps

    ax.imshow(_grid.display_image(image), cmap="gray", vmin=0, vmax=1,
              interpolation="nearest")
    if heat is not None:
        heat = np.asarray(heat, "float32")
        if signed:
            limit = _grid.symmetric_limit(heat, percentile=100)
            strength = np.clip(np.abs(heat) / limit, 0, 1)
            rgba = colormaps["RdBu_r"](np.clip(heat / (2 * limit) + 0.5, 0, 1))
        else:
            strength = np.clip(heat, 0, 1)
            rgba = colormaps["jet"](strength)
        rgba[..., 3] = alpha * strength
        ax.imshow(rgba, interpolation="bilinear")
    ax.set_xticks([])
    ax.set_yticks([])


def attributions(model, images, class_index=None, *, methods=("grad_cam",), labels=None,
                 class_names=None, path=None, layer=None):
    """Draws heat maps overlaid on the images.

    With one method, a grid of overlays (the image shows through); with several, one row per
    image: the image, then one overlay per method. Titles give the true class (``labels``),
    the predicted class and its output.

    Args:
        model, images, class_index: as ``grad_cam``.
        methods: names among ``METHODS`` ("grad_cam", "saliency", "smooth_grad",
            "occlusion").
        labels: true classes of the images, if known.
        class_names: names for the class numbers.
        path: ``.png``/``.svg``/``.pdf`` to write; None returns the figure.
        layer: Grad-CAM's layer (default ``default_cam_layer``).

    Returns:
        ``path``, or the ``matplotlib.figure.Figure`` when ``path`` is None.
    """
    path = _grid.check_path(path)
    if isinstance(methods, str):
        methods = (methods,)
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        import difflib

        close = difflib.get_close_matches(unknown[0], list(METHODS), n=1) if unknown else []
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"`methods` must name some of {', '.join(METHODS)}.{hint} "
                         f"Received: methods={methods!r}")
    images = _check_images(model, images)
    if labels is not None and len(labels) != len(images):
        raise ValueError(f"`labels` must give one class per image ({len(images)}). "
                         f"Received: labels of length {len(labels)}")
    maps = {m: METHODS[m](model, images, class_index) for m in methods if m != "grad_cam"}
    if "grad_cam" in methods:
        layer = default_cam_layer(model) if layer is None else layer
        maps["grad_cam"], probs = _grad_cam(model, images, class_index, layer)
    else:
        out = model(images, training=False)
        probs = _grid.to_numpy(out[0] if isinstance(out, (list, tuple)) else out)
    probs = probs.reshape(len(images), -1)
    predicted = probs.argmax(-1)

    def name(c):
        return str(class_names[c]) if class_names is not None else str(int(c))

    def caption(i):
        text = f"pred {name(predicted[i])} ({probs[i, predicted[i]]:.2f})"
        return (f"true {name(labels[i])}, " if labels is not None else "") + text

    n = len(images)
    if len(methods) == 1:
        rows, cols = _grid.grid_shape(n, aspect=1.5)
        fig = _grid.new_figure(2.1 * cols, 2.3 * rows + 0.4)
        axes = fig.subplots(rows, cols, squeeze=False).ravel()
        for i, ax in enumerate(axes):
            if i >= n:
                ax.axis("off")
                continue
            overlay(ax, images[i], maps[methods[0]][i], signed=methods[0] == "occlusion")
            ax.set_title(caption(i), fontsize=8)
        what = _TITLES[methods[0]]
        if methods[0] == "grad_cam":
            what += f" at {layer}"
        fig.suptitle(f"{model.name}: {what}", fontsize=10, y=1 - 0.1 / (2.3 * rows + 0.4))
        _grid.margins(fig, top=0.65, wspace=0.08, hspace=0.25)
    else:
        cols = 1 + len(methods)
        fig = _grid.new_figure(2.0 * cols, 2.1 * n + 0.4)
        axes = fig.subplots(n, cols, squeeze=False)
        for i in range(n):
            overlay(axes[i, 0], images[i])
            axes[i, 0].set_ylabel(caption(i), fontsize=8)
            for j, m in enumerate(methods, start=1):
                overlay(axes[i, j], images[i], maps[m][i], signed=m == "occlusion")
                if i == 0:
                    axes[i, j].set_title(_TITLES[m], fontsize=9)
        axes[0, 0].set_title("input", fontsize=9)
        fig.suptitle(f"{model.name}: what the class score depends on", fontsize=10,
                     y=1 - 0.1 / (2.1 * n + 0.4))
        _grid.margins(fig, top=0.65, left=0.35, wspace=0.06, hspace=0.08)
    return _grid.finish(fig, path)
