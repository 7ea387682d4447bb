"""Recipe configurations and their command lines.

A recipe declares its paper's settings as a flat dictionary of defaults; every key becomes a
command-line option (``batch_size`` -> ``--batch-size``), and ``key=value`` words are
accepted too (``kcnn train lenet5_digits epochs=5 lr=0.01``). Values are parsed by the type
of their default: booleans take ``--flag``/``--no-flag`` (or ``key=true``), lists and
dictionaries take JSON, ``None`` defaults take JSON or a plain string.
"""

from __future__ import annotations

import argparse
import json
import types
from collections.abc import Mapping

from kcnn.training.environment import PRECISIONS, STRATEGIES

# Settings every recipe has, with their defaults and help.
COMMON_DEFAULTS = {
    "epochs": 1,
    "batch_size": 32,
    "seed": 0,
    "deterministic": False,
    "precision": "auto",
    "jit_compile": False,
    "run_eagerly": False,
    "strategy": "default",
    "steps_per_epoch": None,
    "smoke": False,
}
COMMON_HELP = {
    "epochs": "passes over the training data",
    "batch_size": "global batch size (split across replicas)",
    "seed": "seed of weights, shuffling and augmentation",
    "deterministic": "make TensorFlow ops deterministic (slower)",
    "precision": "dtype policy; auto = mixed_float16 on tensor-core GPUs, float32 on CPU",
    "jit_compile": "compile the train step with XLA",
    "run_eagerly": "run the train step eagerly, without tracing (quicker for a step or two)",
    "strategy": "default (one device), mirrored (all local GPUs/CPUs), multi_worker (TF_CONFIG)",
    "steps_per_epoch": ("batches per epoch; the training data then repeats, so a long pass "
                        "can be cut into shorter epochs, each one checkpointed"),
    "smoke": "run for a step or two on tiny generated data",
}
COMMON_CHOICES = {"precision": PRECISIONS, "strategy": STRATEGIES}

# Options that choose where and how verbosely a run happens; they are not part of the
# configuration a run folder is tied to.
RUN_OPTIONS = ("output", "overwrite", "verbose")


class Config(types.SimpleNamespace):
    """A resolved configuration: attribute access to every setting (``cfg.batch_size``)."""

    def to_dict(self):
        return dict(vars(self))

    def replace(self, **changes):
        return Config(**{**vars(self), **changes})

    def __getitem__(self, key):
        return getattr(self, key)

    def get(self, key, default=None):
        return getattr(self, key, default)


def _literal(text):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _bool(text):
    low = str(text).lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _parser_type(default):
    if isinstance(default, bool):
        return _bool
    if isinstance(default, int):
        return int
    if isinstance(default, float):
        return float
    if isinstance(default, str):
        return str
    if isinstance(default, (list, tuple, dict)):
        return json.loads
    return _literal


def build_parser(name, description, defaults, *, help=None, choices=None):
    """An ``argparse`` parser with one option per default plus the run options."""
    help = help or {}
    choices = choices or {}
    parser = argparse.ArgumentParser(
        prog=f"kcnn train {name}", description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    group = parser.add_argument_group("recipe settings (the paper's values by default)")
    for key, value in defaults.items():
        flag = "--" + key.replace("_", "-")
        text = help.get(key, " ")
        shown = json.dumps(value) if isinstance(value, (list, tuple, dict)) else value
        if "(default" not in text:
            text = f"{text} (default: {shown})"
        if isinstance(value, bool):
            group.add_argument(flag, dest=key, default=None, action=argparse.BooleanOptionalAction,
                               help=text)
        else:
            group.add_argument(flag, dest=key, default=None, type=_parser_type(value),
                               choices=choices.get(key), metavar=None if key in choices else
                               key.upper(), help=text)
    run = parser.add_argument_group("run options")
    run.add_argument("--output", default=None,
                     help=f"run folder (default: ./runs/{name}, ./runs/{name}_smoke with "
                          "--smoke); rerunning into it resumes")
    run.add_argument("--overwrite", action="store_true",
                     help="start afresh in an existing run folder with a different configuration")
    run.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1,
                     help="0 silent, 1 progress bars, 2 one line per epoch")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="settings given as key=value")
    return parser


def parse_overrides(words, defaults):
    """Parses ``key=value`` words into typed values (keys may use dashes or underscores)."""
    out = {}
    for word in words:
        if "=" not in word:
            raise ValueError(f"Overrides are given as KEY=VALUE. Received: {word!r}")
        key, text = word.split("=", 1)
        key = key.strip().lstrip("-").replace("-", "_")
        if key not in defaults:
            import difflib

            close = difflib.get_close_matches(key, list(defaults), n=3)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise ValueError(f"Unknown setting {key!r}.{hint} Received: {word!r}")
        try:
            out[key] = _parser_type(defaults[key])(text)
        except (ValueError, argparse.ArgumentTypeError) as error:
            raise ValueError(f"Cannot parse {key}={text!r}: {error}") from None
    return out


def resolve(defaults, *, given=None, smoke_overrides=None):
    """Merges defaults, smoke-mode settings and the user's settings into a ``Config``.

    The user's settings always win; ``smoke_overrides`` apply when ``smoke`` is set (by
    default or by the user) and the user did not set that key.
    """
    given = dict(given or {})
    unknown = set(given) - set(defaults)
    if unknown:
        raise ValueError(f"Unknown settings {sorted(unknown)}. Known: {sorted(defaults)}")
    values = dict(defaults)
    smoke = given.get("smoke", values.get("smoke", False))
    if smoke:
        values.update(smoke_overrides or {})
    values.update(given)
    return Config(**values)


def config_diff(old: Mapping, new: Mapping):
    """Lines ``key: old -> new`` for every setting that differs."""
    keys = sorted(set(old) | set(new))
    missing = object()
    lines = []
    for key in keys:
        a, b = old.get(key, missing), new.get(key, missing)
        if _canonical(a) != _canonical(b):
            show = lambda v: "(unset)" if v is missing else json.dumps(v)  # noqa: E731
            lines.append(f"  {key}: {show(a)} -> {show(b)}")
    return lines


def _canonical(value):
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    return value
