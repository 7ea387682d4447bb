"""The ``kcnn`` command line: list, summary, train, tune, bench, go.

``list`` and ``summary`` live here; the other commands hand their arguments to the module that
implements them (``kcnn.training``, ``kcnn.tuning``, ``kcnn.bench``, ``kcnn.go.cli``), each
imported only when its command runs so that ``kcnn list`` starts fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from kcnn import _console

__all__ = ["DELEGATED", "cmd_list", "cmd_summary", "build_parser", "main"]

DELEGATED = {
    "train": ("kcnn.training", "cli_main", "train a recipe: kcnn train RECIPE [options]"),
    "tune": ("kcnn.tuning", "cli_main", "hyperparameter sweep: kcnn tune SPACE [options]"),
    "bench": ("kcnn.bench", "cli_main", "benchmarks against keras.applications"),
    "go": ("kcnn.go.cli", "main", "Go data: kcnn go convert SGF_DIR OUT_DIR"),
    "export": ("kcnn.export", "main", "SavedModel, TFLite or ONNX, checked against Keras"),
    "predict": ("kcnn.imagenet.cli", "predict_main", "top-5 ImageNet classes of images"),
    "evaluate": ("kcnn.imagenet.cli", "evaluate_main", "top-1/top-5 on an ImageNet val folder"),
    "weights": ("kcnn.imagenet.cli", "weights_main", "published weights: list, fetch, convert"),
    "show": ("kcnn.visualize.run", "cli_main", "a run's numbers and pictures: kcnn show RUN"),
}

# delegated commands that need the TensorFlow backend itself
TENSORFLOW_COMMANDS = ("train", "tune", "bench", "export")


def _backend():
    import keras

    return keras.backend.backend()


def _format_count(n):
    return "-" if n is None else f"{n:,}"


def cmd_list(args):
    import kcnn

    names = kcnn.list_models(args.pattern, family=args.family)
    if not names:
        print(f"no registered model matches {args.pattern!r}", file=sys.stderr)
        return 1
    rows = [("name", "family", "input", "trainable params", "description")]
    for n in names:
        s = kcnn.get_spec(n)
        ref = _format_count(s.params)
        if s.reference_kwargs:
            ref += " (" + ", ".join(f"{k}={v}" for k, v in s.reference_kwargs.items()) + ")"
        rows.append((n, s.family, "x".join(str(d) for d in s.input_shape), ref,
                     s.description))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(r[i].ljust(widths[i]) for i in range(4)) + "  " + r[4])
    return 0


def _parse_kwargs(pairs):
    """``key=value`` pairs into builder keyword arguments (values parsed as Python
    literals where possible)."""
    import ast

    kwargs = {}
    for pair in pairs or ():
        if "=" not in pair:
            raise SystemExit(f"kcnn summary: --set expects key=value. Received: {pair!r}")
        key, value = pair.split("=", 1)
        try:
            kwargs[key.replace("-", "_")] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            kwargs[key.replace("-", "_")] = value
    return kwargs


def cmd_summary(args):
    from kcnn import analysis

    kwargs = _parse_kwargs(args.set)
    if args.input_shape:
        kwargs["input_shape"] = tuple(args.input_shape)
    if args.num_classes is not None:
        kwargs["num_classes"] = args.num_classes
    try:
        result = analysis.summary(args.name, expand=not args.no_expand, **kwargs)
    except (ValueError, TypeError) as e:
        print(f"kcnn summary: {e}", file=sys.stderr)
        return 2
    print(result.to_string() if hasattr(result, "to_string") else result)
    return 0


def build_parser():
    parser = argparse.ArgumentParser(
        prog="kcnn", description="The classic convolutional networks, paper-faithful, in Keras 3.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("list", help="list registered networks with parameter counts")
    p.add_argument("pattern", nargs="?", default=None, help="wildcard, e.g. 'resnet*'")
    p.add_argument("--family", default=None)
    p.set_defaults(func=cmd_list)
    p = sub.add_parser("summary", help="per-layer table: shapes, memory, params, FLOPs")
    p.add_argument("name")
    p.add_argument("--input-shape", type=int, nargs=3, metavar=("H", "W", "C"))
    p.add_argument("--num-classes", type=int)
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="other builder arguments, e.g. --set groups=2")
    p.add_argument("--no-expand", action="store_true", help="do not expand blocks")
    p.set_defaults(func=cmd_summary)
    for name, (_, _, help_text) in DELEGATED.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in DELEGATED:
        module, function, _ = DELEGATED[argv[0]]
        if argv[0] in TENSORFLOW_COMMANDS and _backend() != "tensorflow":
            print(f"kcnn {argv[0]} runs on Keras's TensorFlow backend (tf.data pipelines, "
                  f"tf.distribute); this process uses {_backend()!r}. Run it with "
                  "KERAS_BACKEND=tensorflow: a .keras file it writes loads on any backend.",
                  file=sys.stderr)
            return 2
        # these commands use tf.data on every backend: load it with its notices filtered
        _console.import_tensorflow()
        try:
            implementation = importlib.import_module(module)
        except ImportError as e:  # an optional dependency (kcnn[tuning], kcnn[go]) missing
            if "pip install" not in str(e):
                raise
            print(f"kcnn {argv[0]}: {e}", file=sys.stderr)
            return 2
        return getattr(implementation, function)(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
