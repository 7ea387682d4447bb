"""Export a kcnn model to a TensorFlow SavedModel, TFLite (LiteRT) or ONNX, checked on the spot.

Every export is run through its format's own runtime right after it is written
(``tf.saved_model.load``, the TFLite interpreter, ``onnxruntime``) on a sample batch, and the
largest absolute difference from the Keras model's outputs is reported (and printed with
``verbose``): float exports agree to float32 rounding.

The traps of Keras 3.15 handled here: its ONNX export refuses a model that was never called
("The model provided has never called"), so an input signature with a free batch size is
always given; its TFLite exporter is named ``"litert"``; the TFLite interpreter is taken from
``ai_edge_litert`` when installed (``tf.lite.Interpreter`` is deprecated). kcnn's layers are
written in ``keras.ops``, so the exported graphs hold only standard operations (Local Response
Normalization becomes squares, a padded window sum and a power).

TFLite int8 post-training quantization (``int8=True``) calibrates the ranges of the
activations on a few batches (``calibration``) and keeps float32 input and output; operations
without an int8 kernel stay in float. With ``evaluation=(x, y)`` the top-1 accuracy of the
Keras model and of the export are reported side by side. Measured for LeNet-5 on the digits:
see the README's Export section.

Requires the TensorFlow backend; ONNX needs the ``export`` extra
(``pip install "kcnn[export]"``: onnx, onnxruntime, tf2onnx).
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import shutil
import sys
import tempfile
import warnings

import numpy as np

from kcnn._io import _fsync_folder

__all__ = ["FORMATS", "ExportResult", "digits_as_trained", "export", "load_for_export", "load_calibration",
           "run_export", "main"]

FORMATS = ("saved_model", "tflite", "onnx")
_ALIASES = {"litert": "tflite", "tf_saved_model": "saved_model", "savedmodel": "saved_model"}
_SUFFIX = {"saved_model": "", "tflite": ".tflite", "onnx": ".onnx"}
_IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


@dataclasses.dataclass(frozen=True)
class ExportResult:
    """What :func:`export` wrote and how the export compares with the Keras model.

    Attributes:
        path: the file (``.tflite``, ``.onnx``) or folder (SavedModel) written.
        format: one of ``FORMATS``.
        int8: whether the TFLite model is int8-quantized.
        size_bytes: size of the file, or of every file in the folder.
        max_abs_diff: largest ``|export - keras|`` over the outputs on the check batch.
        max_abs_output: largest ``|keras|`` output on that batch (the scale of the difference).
        checked_on: number of images in the check batch.
        accuracy: ``{"keras": a, "export": b, "images": n}`` with ``evaluation``, else None.
    """

    path: str
    format: str
    int8: bool
    size_bytes: int
    max_abs_diff: float
    max_abs_output: float
    checked_on: int
    accuracy: dict | None = None

    def describe(self):
        kind = f"{self.format} (int8)" if self.int8 else self.format
        lines = [f"exported {kind} to {self.path} ({_human(self.size_bytes)})",
                 f"max |export - keras| on {self.checked_on} images: {self.max_abs_diff:.3g} "
                 f"(outputs up to {self.max_abs_output:.3g})"]
        if self.accuracy:
            a = self.accuracy
            lines.append(f"top-1 accuracy on {a['images']} images: keras {a['keras']:.4f}, "
                         f"export {a['export']:.4f} ({a['export'] - a['keras']:+.4f})")
        return "\n".join(lines)


def _human(n):
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


def _check_format(format):
    if not isinstance(format, str):
        raise TypeError(f"`format` must be one of {FORMATS}. Received: format={format!r}")
    name = _ALIASES.get(format.lower(), format.lower())
    if name not in FORMATS:
        close = difflib.get_close_matches(name, FORMATS + tuple(_ALIASES), n=2)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(f"`format` must be one of {FORMATS}.{hint} Received: format={format!r}")
    return name


def _check_tensorflow_backend(format):
    import keras

    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(f"Exporting to {format} needs Keras's TensorFlow backend; this "
                           f"process runs on {keras.backend.backend()!r}. Run with "
                           "KERAS_BACKEND=tensorflow (a .keras file saved on any backend "
                           "loads there).")


def _input_shape(model):
    if len(model.inputs) != 1:
        raise ValueError("Export handles models with one image input. Received: a model "
                         f"with {len(model.inputs)} inputs")
    shape = tuple(model.inputs[0].shape[1:])
    if any(d is None for d in shape):
        raise ValueError("Export needs a model with a fixed input size (build it with "
                         f"input_shape=...). Received: input shape {(None, *shape)}")
    return shape


# === Loading what to export ===

def load_for_export(model_or_run):
    """A Keras model from a ``keras.Model``, a ``.keras`` file, a run folder (its
    ``model.keras``) or a registered name (built with fresh weights)."""
    import keras

    if isinstance(model_or_run, keras.Model):
        return model_or_run
    if not isinstance(model_or_run, (str, os.PathLike)):
        raise TypeError("`model` must be a keras.Model, a .keras file, a run folder or a "
                        f"registered model name. Received: model={model_or_run!r}")
    path = os.fspath(model_or_run)
    if os.path.isdir(path):
        path = os.path.join(path, "model.keras")
        if not os.path.isfile(path):
            raise ValueError(f"The run folder has no model.keras (the run has not finished). "
                             f"Received: model={os.fspath(model_or_run)!r}")
    if os.path.isfile(path):
        from kcnn.saving import load_model

        return load_model(path, compile=False)
    import kcnn

    names = kcnn.list_models()
    if path in names:
        return kcnn.build(path)
    close = difflib.get_close_matches(path, names, n=3)
    hint = f" Close registered names: {', '.join(close)}." if close else ""
    raise ValueError("`model` must be a keras.Model, an existing .keras file, a run folder "
                     f"or a registered model name.{hint} Received: model={path!r}")


def digits_as_trained(image_size, split):
    """The digits recipes' ``split`` ("train" or "test": the fixed stratified split of seed
    0) as their networks see them: ``preprocess_input(x, "lenet")`` (background -0.1, ink
    1.175). Returns ``(images, labels)``."""
    from kcnn.data import load_digits
    from kcnn.preprocessing import preprocess_input

    train, test = load_digits(image_size=image_size)
    x, y = train if split == "train" else test
    return np.asarray(preprocess_input(x, "lenet"), dtype="float32"), y


def load_calibration(source, input_shape, *, limit=256):
    """Images for calibration: an array ``(n, *input_shape)``, ``"digits"`` (the digits
    training images at the input size, scaled as the digits recipes scale them), or a folder of image files (searched recursively,
    resized to the input and scaled to [0, 1]). At most ``limit`` images."""
    if isinstance(source, np.ndarray):
        x = source
    elif isinstance(source, str) and source == "digits":
        if input_shape[-1] != 1:
            raise ValueError("The digits are 1-channel images; this model takes "
                             f"{input_shape[-1]} channels. Received: calibration='digits'")
        x, _ = digits_as_trained(input_shape[0], "train")
    elif isinstance(source, (str, os.PathLike)) and os.path.isdir(source):
        x = _read_images(os.fspath(source), input_shape, limit)
    else:
        raise ValueError("`calibration` must be an array of images, 'digits' or a folder of "
                         f"images. Received: calibration={source!r}")
    x = np.asarray(x, dtype="float32")
    if x.shape[1:] != tuple(input_shape):
        raise ValueError(f"Calibration images must have the model's input shape "
                         f"{tuple(input_shape)}. Received: shape {x.shape[1:]}")
    if len(x) == 0:
        raise ValueError(f"No calibration images. Received: calibration={source!r}")
    return x[:limit]


def _read_images(folder, input_shape, limit):
    import keras

    height, width, channels = input_shape
    files = sorted(os.path.join(root, f) for root, _, names in os.walk(folder)
                   for f in names if f.lower().endswith(_IMAGE_EXTENSIONS))
    images, skipped = [], []
    for path in files:
        if len(images) == limit:
            break
        try:
            image = keras.utils.load_img(path, color_mode="grayscale" if channels == 1 else
                                         "rgb", target_size=(height, width))
        except Exception as error:  # a bad image is skipped and named, never fatal
            skipped.append(f"{path} ({error})")
            continue
        images.append(np.asarray(keras.utils.img_to_array(image), "float32") / 255.0)
    if skipped:
        warnings.warn(f"Skipped {len(skipped)} unreadable calibration image(s): "
                      + "; ".join(skipped[:5]), stacklevel=3)
    if not images:
        raise ValueError(f"No readable images ({', '.join(_IMAGE_EXTENSIONS)}) in the "
                         f"calibration folder. Received: calibration={folder!r}")
    return np.stack(images)


# === Writing ===

def _write_saved_model(model, path, signature):
    model.export(path, format="tf_saved_model", input_signature=signature, verbose=False)


def _tflite_converter(model, signature, folder):
    """A TFLite converter for ``model`` through a SavedModel in ``folder``."""
    import tensorflow as tf

    saved = os.path.join(folder, "saved_model")
    _write_saved_model(model, saved, signature)
    return tf.lite.TFLiteConverter.from_saved_model(saved)


def _write_tflite(model, path, signature, *, int8, calibration, batch_size, work):
    if not int8:
        # Keras names its TFLite exporter "litert"
        model.export(path, format="litert", input_signature=signature, verbose=False)
        return
    import tensorflow as tf

    converter = _tflite_converter(model, signature, work)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]

    def representative():
        for start in range(0, len(calibration), batch_size):
            for image in calibration[start:start + batch_size]:
                yield [image[None]]

    converter.representative_dataset = representative
    # int8 kernels where TFLite has them, float elsewhere; float32 input and output
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8,
                                           tf.lite.OpsSet.TFLITE_BUILTINS]
    with open(path, "wb") as f:
        f.write(converter.convert())


def _write_onnx(model, path, signature):
    try:
        import onnx  # noqa: F401
        import tf2onnx  # noqa: F401
    except ImportError as error:
        raise ImportError(f"ONNX export needs onnx and tf2onnx ({error.name} is missing): "
                          'pip install "kcnn[export]"') from error
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)   # tf2onnx's use of np.object
        model.export(path, format="onnx", input_signature=signature, verbose=False)


# === Running the export in its own runtime ===

def _run_saved_model(path, x):
    import tensorflow as tf

    loaded = tf.saved_model.load(path)
    out = loaded.serve(tf.constant(x))
    return [np.asarray(t) for t in (out if isinstance(out, (list, tuple)) else [out])]


def _tflite_interpreter(path):
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # tf.lite.Interpreter's deprecation notice
        return Interpreter(model_path=path)


def _run_tflite(path, x):
    interpreter = _tflite_interpreter(path)
    (inp,) = interpreter.get_input_details()
    interpreter.resize_tensor_input(inp["index"], x.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(inp["index"], x.astype(inp["dtype"]))
    interpreter.invoke()
    return [np.asarray(interpreter.get_tensor(o["index"]))
            for o in interpreter.get_output_details()]


def _run_onnx(path, x):
    try:
        import onnxruntime
    except ImportError as error:
        raise ImportError('Checking an ONNX export needs onnxruntime: pip install '
                          '"kcnn[export]"') from error
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})


_RUNNERS = {"saved_model": _run_saved_model, "tflite": _run_tflite, "onnx": _run_onnx}


def run_export(path, x, *, format):
    """The outputs (a list of arrays) of the export at ``path`` on images ``x``, computed
    by the format's own runtime."""
    return _RUNNERS[_check_format(format)](os.fspath(path), np.asarray(x, "float32"))


def _keras_outputs(model, x, batch_size):
    """The model's inference outputs, batch by batch (eagerly: no function retraced for
    each batch size)."""
    import keras

    parts = []
    for start in range(0, len(x), batch_size):
        out = model(x[start:start + batch_size], training=False)
        parts.append([np.asarray(keras.ops.convert_to_numpy(t))
                      for t in (out if isinstance(out, (list, tuple)) else [out])])
    return [np.concatenate(outputs) for outputs in zip(*parts)]


def _run_batched(path, x, format, batch_size):
    parts = [run_export(path, x[i:i + batch_size], format=format)
             for i in range(0, len(x), batch_size)]
    return [np.concatenate(outputs) for outputs in zip(*parts)]


def _size(path):
    if os.path.isdir(path):
        return sum(os.path.getsize(os.path.join(root, f))
                   for root, _, files in os.walk(path) for f in files)
    return os.path.getsize(path)


def _replace_folder(tmp, path):
    """Moves the finished folder ``tmp`` onto ``path`` (an old folder there is replaced)."""
    old = None
    if os.path.exists(path):
        old = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.old-",
                               dir=os.path.dirname(path))
        os.replace(path, os.path.join(old, "previous"))
    os.replace(tmp, path)
    if old:
        shutil.rmtree(old, ignore_errors=True)


def export(model, path, *, format="saved_model", int8=False, calibration=None,
           evaluation=None, sample=None, batch_size=32, overwrite=False, verbose=True):
    """Exports ``model`` and checks the export against the Keras model.

    Args:
        model: a ``keras.Model``, a ``.keras`` file, a run folder or a registered name.
        path: where to write: a folder for ``"saved_model"``, a file for ``"tflite"``
            (``.tflite`` added when missing) and ``"onnx"`` (``.onnx``).
        format: ``"saved_model"``, ``"tflite"`` (alias ``"litert"``) or ``"onnx"``.
        int8: TFLite only: post-training int8 quantization calibrated on ``calibration``.
        calibration: images for int8 calibration (see :func:`load_calibration`): an array
            shaped like the model's input, ``"digits"`` or a folder of images.
        evaluation: optional ``(x, y)`` (images, integer labels): the top-1 accuracy of
            the Keras model and of the export are reported.
        sample: images the export is checked on; by default up to 8 calibration images, or
            8 uniform random images in [0, 1].
        batch_size: images per batch for calibration, checks and evaluation.
        overwrite: replace an existing export at ``path``.
        verbose: print the size, the largest difference and the accuracies.

    Returns:
        An :class:`ExportResult`.

    Raises:
        ValueError, TypeError: bad arguments (checked before anything is written).
        FileExistsError: ``path`` exists and ``overwrite`` is False.
        RuntimeError: the Keras backend is not TensorFlow.
    """
    from kcnn._checks import check_bool, check_int

    format = _check_format(format)
    int8 = check_bool("int8", int8)
    overwrite = check_bool("overwrite", overwrite)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    if int8 and format != "tflite":
        raise ValueError(f"int8 quantization applies to the TFLite export. Received: "
                         f"format={format!r}, int8=True")
    if int8 and calibration is None:
        raise ValueError("int8 quantization needs calibration images (an array, 'digits' or "
                         "a folder). Received: calibration=None")
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"`path` must be a file or folder path. Received: path={path!r}")
    path = os.path.abspath(os.fspath(path))
    if _SUFFIX[format] and not path.endswith(_SUFFIX[format]):
        path += _SUFFIX[format]
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True (--overwrite) to replace "
                              f"it. Received: path={path!r}")
    _check_tensorflow_backend(format)
    from kcnn import _console

    _console.import_tensorflow()
    model = load_for_export(model)
    shape = _input_shape(model)
    if calibration is not None:
        calibration = load_calibration(calibration, shape)
    if evaluation is not None:
        if not isinstance(evaluation, (tuple, list)) or len(evaluation) != 2:
            raise TypeError("`evaluation` must be a pair (images, labels). Received: "
                            f"evaluation={type(evaluation).__name__}")
        ex, ey = np.asarray(evaluation[0], "float32"), np.asarray(evaluation[1]).reshape(-1)
        if ex.shape[1:] != shape or len(ex) != len(ey):
            raise ValueError(f"`evaluation` images must be shaped (n, {', '.join(map(str, shape))}) "
                             f"with n labels. Received: images {ex.shape}, labels {ey.shape}")
    if sample is None:
        sample = (calibration[:8] if calibration is not None else
                  np.random.default_rng(0).uniform(0, 1, (8, *shape)))
    sample = np.asarray(sample, "float32")
    if sample.shape[1:] != shape:
        raise ValueError(f"`sample` images must have the input shape {shape}. "
                         f"Received: shape {sample.shape[1:]}")

    import keras

    # a free batch size; Keras's ONNX export also needs this for a model never called
    signature = [keras.InputSpec(shape=(None, *shape), dtype="float32")]
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    work = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.tmp-", dir=folder)
    try:
        tmp = os.path.join(work, "export" + _SUFFIX[format])
        with _console.quiet_tensorflow_info():
            if format == "saved_model":
                _write_saved_model(model, tmp, signature)
            elif format == "tflite":
                _write_tflite(model, tmp, signature, int8=int8, calibration=calibration,
                              batch_size=batch_size, work=work)
            else:
                _write_onnx(model, tmp, signature)
            expected = _keras_outputs(model, sample, batch_size)
            got = _run_batched(tmp, sample, format, batch_size)
        if len(got) != len(expected):
            raise RuntimeError(f"The export has {len(got)} outputs, the model "
                               f"{len(expected)}.")
        diff = max(float(np.max(np.abs(np.asarray(g, "float64") - e)))
                   for g, e in zip(got, expected))
        scale = max(float(np.max(np.abs(e))) for e in expected)
        accuracy = None
        if evaluation is not None:
            keras_top1 = _keras_outputs(model, ex, batch_size)[0].argmax(-1)
            with _console.quiet_tensorflow_info():
                export_top1 = _run_batched(tmp, ex, format, batch_size)[0].argmax(-1)
            accuracy = {"keras": float(np.mean(keras_top1 == ey)),
                        "export": float(np.mean(export_top1 == ey)), "images": int(len(ey))}
        if os.path.isdir(tmp):
            _replace_folder(tmp, path)
        else:
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
            os.replace(tmp, path)
        _fsync_folder(folder)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = ExportResult(path=path, format=format, int8=int8, size_bytes=_size(path),
                          max_abs_diff=diff, max_abs_output=scale, checked_on=len(sample),
                          accuracy=accuracy)
    if verbose:
        print(result.describe())
    return result


# === kcnn export ===

def _parser():
    import argparse

    p = argparse.ArgumentParser(
        prog="kcnn export",
        description="Export a model to a SavedModel, TFLite or ONNX, checked against Keras.")
    p.add_argument("model", metavar="MODEL_OR_RUN",
                   help="a run folder, a .keras file or a registered model name")
    p.add_argument("--format", default="saved_model",
                   help="saved_model (default), tflite (alias litert) or onnx")
    p.add_argument("--output", "-o", default=None,
                   help="file or folder to write (default: next to the model, or "
                        "exports/NAME.FORMAT)")
    p.add_argument("--int8", action="store_true",
                   help="TFLite int8 post-training quantization (needs --calibration)")
    p.add_argument("--calibration", default=None, metavar="DIR",
                   help="folder of images for int8 calibration, or 'digits'")
    p.add_argument("--evaluate", default="auto", choices=("auto", "digits", "none"),
                   help="report top-1 accuracy of model and export on the digits test set "
                        "(auto: for a 10-class model on 1-channel images)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing export")
    return p


def _default_output(model_arg, format, int8):
    suffix = {"saved_model": "_saved_model", "tflite": ".tflite", "onnx": ".onnx"}[format]
    if int8:
        suffix = "_int8" + suffix
    if os.path.isdir(model_arg):
        return os.path.join(model_arg, "model" + suffix)
    if os.path.isfile(model_arg):
        base = model_arg[:-len(".keras")] if model_arg.endswith(".keras") else model_arg
        return base + suffix
    return os.path.join("exports", model_arg + suffix)


def main(argv=None):
    """``kcnn export MODEL_OR_RUN --format saved_model|tflite|onnx [--int8 --calibration DIR]``."""
    args = _parser().parse_args(argv)
    try:
        format = _check_format(args.format)
        model = load_for_export(args.model)
        shape = _input_shape(model)
        evaluation = None
        digits_like = (shape[-1] == 1 and shape[0] == shape[1]
                       and model.outputs[0].shape[-1] == 10)
        if args.evaluate == "digits" or (args.evaluate == "auto" and digits_like):
            evaluation = digits_as_trained(shape[0], "test")
        if not os.path.exists(args.model):
            print(f"kcnn export: {args.model} is a registered name: exporting fresh, untrained "
                  "weights (give a run folder or a .keras file for trained ones)")
        output = args.output or _default_output(args.model, format, args.int8)
        export(model, output, format=format, int8=args.int8, calibration=args.calibration,
               evaluation=evaluation, overwrite=args.overwrite)
    except (ValueError, TypeError, FileExistsError, ImportError, RuntimeError) as error:
        print(f"kcnn export: {error}", file=sys.stderr)
        return 2
    return 0
