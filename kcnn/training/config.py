"""Recipe configurations: typed, frozen, validated settings and their command lines.

A recipe declares its settings as a frozen dataclass deriving from :class:`Config`, which
holds the settings every recipe has (epochs, batch size, seed, precision, strategy...)::

    @dataclasses.dataclass(frozen=True)
    class DigitsConfig(training.Config):
        model: str = training.setting("lenet5_modern", "lenet5_modern or lenet5",
                                      choices=("lenet5_modern", "lenet5"))
        lr: float = training.setting(5e-3, "Adam's initial learning rate", minimum=0.0,
                                     exclusive_minimum=True)
        epochs: int = 30                  # a new default; help and bounds are inherited

Each setting has a type (its annotation), a default, a help line and optional ``choices``
and bounds. Building the dataclass validates every value (``ValueError``/``TypeError``
naming the setting, ``Received: name=value``), then :meth:`Config.check` checks what
depends on several settings or on the file system, so a bad command is refused before
anything is written. Lists become tuples and dictionaries read-only mappings: a
configuration cannot change once made.

Every setting is a command-line option (``batch_size`` -> ``--batch-size``), and
``key=value`` words are accepted too (``kcnn train lenet5_digits epochs=5 lr=0.01``). Values
are parsed by type: booleans take ``--flag``/``--no-flag`` (or ``key=true``), numbers and
strings their text (``none`` for an optional setting), tuples and dictionaries JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import json
import math
import numbers
import types
import typing
from collections.abc import Mapping, Sequence

from kcnn.training.environment import PRECISIONS, STRATEGIES

__all__ = ["COMMON_DEFAULTS", "COMMON_HELP", "Config", "RUN_OPTIONS", "Setting",
           "build_parser", "config_class", "config_diff", "parse_overrides", "setting"]

# Options that choose where and how verbosely a run happens; they are not part of the
# configuration a run folder is tied to.
RUN_OPTIONS = ("output", "overwrite", "verbose")


def setting(default, help="", *, choices=None, minimum=None, maximum=None,
            exclusive_minimum=False):
    """A declared setting of a :class:`Config` dataclass (a ``dataclasses.field``).

    Args:
        default: the paper's value (a list or dict default is copied for each config).
        help: one line for ``--help``.
        choices: allowed values, or None.
        minimum, maximum: bounds of a number (None: unbounded).
        exclusive_minimum: the value must exceed ``minimum``.
    """
    metadata = {"help": help, "choices": tuple(choices) if choices is not None else None,
                "minimum": minimum, "maximum": maximum,
                "exclusive_minimum": exclusive_minimum}
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: json.loads(json.dumps(default)),
                                 metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass(frozen=True)
class Setting:
    """What a :class:`Config` declares about one setting (see :func:`setting`)."""

    name: str
    type: typing.Any
    default: typing.Any
    help: str = ""
    choices: tuple | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False

    @property
    def flag(self):
        return "--" + self.name.replace("_", "-")


@dataclasses.dataclass(frozen=True)
class Config:
    """The settings every recipe has; recipes subclass it (see the module docstring).

    Attribute access gives each setting (``cfg.batch_size``); :meth:`to_dict` the JSON
    record stored in a run folder's config.json; :meth:`replace` a changed copy.
    """

    epochs: int = setting(1, "passes over the training data", minimum=1)
    batch_size: int = setting(32, "global batch size (split across replicas)", minimum=1)
    seed: int = setting(0, "seed of weights, shuffling and augmentation", minimum=0)
    deterministic: bool = setting(False, "make TensorFlow ops deterministic (slower)")
    precision: str = setting("auto", "dtype policy; auto = mixed_float16 on tensor-core GPUs, "
                                     "float32 on CPU", choices=PRECISIONS)
    jit_compile: bool = setting(False, "compile the train step with XLA")
    run_eagerly: bool = setting(False, "run the train step eagerly, without tracing (quicker "
                                       "for a step or two)")
    strategy: str = setting("default", "default (one device), mirrored (all local GPUs/CPUs), "
                                       "multi_worker (TF_CONFIG)", choices=STRATEGIES)
    steps_per_epoch: int | None = setting(
        None, "batches per epoch; the training data then repeats, so a long pass can be cut "
              "into shorter epochs, each one checkpointed", minimum=1)
    smoke: bool = setting(False, "run for a step or two on tiny generated data")

    def __post_init__(self):
        for item in self.settings():
            value = _check_value(item, getattr(self, item.name))
            object.__setattr__(self, item.name, value)
        self.check()

    def check(self):
        """Checks across settings or against the file system; recipes override it and
        raise ``ValueError`` naming the setting (called once every value is typed)."""

    @classmethod
    def settings(cls):
        """The declared :class:`Setting` of every field, in declaration order."""
        return _settings(cls)

    def to_dict(self):
        """The settings as JSON values (tuples as lists, mappings as dicts)."""
        return {f.name: _thaw(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def replace(self, **changes):
        """A copy with ``changes`` (validated again)."""
        return dataclasses.replace(self, **changes)


# === Declared settings ===

_SETTINGS_CACHE = {}


# Names of Config's methods, which a setting must not hide.
RESERVED = ("check", "replace", "settings", "to_dict")


def _settings(cls):
    if cls not in _SETTINGS_CACHE:
        hints = typing.get_type_hints(cls)
        out = []
        for f in dataclasses.fields(cls):
            if f.name in RESERVED:
                raise TypeError(f"A setting of {cls.__name__} is named {f.name!r}, which "
                                f"would hide Config.{f.name}(); rename it. "
                                f"Received: {f.name}={getattr(f, 'default', None)!r}")
            meta = {}
            for klass in reversed(cls.__mro__):  # a subclass may redeclare only the default
                own = getattr(klass, "__dataclass_fields__", {}).get(f.name)
                if own is not None and own.metadata:
                    meta = dict(own.metadata)
            if f.default is not dataclasses.MISSING:
                default = f.default
            elif f.default_factory is not dataclasses.MISSING:
                default = f.default_factory()
            else:
                default = None
            out.append(Setting(name=f.name, type=hints.get(f.name, typing.Any),
                               default=_thaw(default), **meta))
        _SETTINGS_CACHE[cls] = tuple(out)
    return _SETTINGS_CACHE[cls]


def _optional(kind):
    """``(inner type, accepts None)`` of an annotation."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        inner = args[0] if len(args) == 1 else typing.Any
        return inner, len(args) < len(typing.get_args(kind))
    return kind, kind is typing.Any


def _base(kind):
    return typing.get_origin(kind) or kind


def _describe(kind):
    base = _base(kind)
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string",
            tuple: "a list", list: "a list", dict: "a JSON object"}.get(base, "a value")


def _check_value(item, value):
    """``value`` typed, bounded and frozen for ``item``; raises naming the setting."""
    name = item.name
    kind, optional = _optional(item.type)
    received = f"Received: {name}={value!r}"
    if value is None:
        if optional:
            return None
        raise TypeError(f"`{name}` must be {_describe(kind)}, not None. {received}")
    base = _base(kind)
    if base is bool:
        if not isinstance(value, bool):
            raise TypeError(f"`{name}` must be true or false. {received}")
    elif base is int:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            if isinstance(value, numbers.Real) and float(value).is_integer():
                value = int(value)
            else:
                raise TypeError(f"`{name}` must be an integer. {received}")
        value = int(value)
    elif base is float:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"`{name}` must be a number. {received}")
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"`{name}` must be a finite number. {received}")
    elif base is str:
        if not isinstance(value, str):
            raise TypeError(f"`{name}` must be a string. {received}")
    elif base in (tuple, list):
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            raise TypeError(f"`{name}` must be a list. {received}")
    elif base in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise TypeError(f"`{name}` must be a JSON object (a dict). {received}")
    if item.choices is not None and value not in item.choices:
        shown = ", ".join(map(repr, item.choices))
        close = difflib.get_close_matches(str(value), [str(c) for c in item.choices], n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ValueError(f"`{name}` must be one of {shown}.{hint} {received}")
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        low, high = item.minimum, item.maximum
        if low is not None and (value <= low if item.exclusive_minimum else value < low):
            relation = ">" if item.exclusive_minimum else ">="
            raise ValueError(f"`{name}` must be {relation} {low}. {received}")
        if high is not None and value > high:
            raise ValueError(f"`{name}` must be <= {high}. {received}")
    return _freeze(value)


def _freeze(value):
    if isinstance(value, Mapping):
        return types.MappingProxyType({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


def _thaw(value):
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_thaw(v) for v in value]
    return value


def config_class(name, defaults, *, help=None, choices=None, base=Config):
    """A frozen :class:`Config` subclass from a flat dictionary of defaults, each setting
    typed by its default (``None`` defaults take any JSON value): for recipes declared as
    ``Recipe(defaults={...})`` instead of with a dataclass."""
    help = help or {}
    choices = choices or {}
    inherited = {s.name: s for s in _settings(base)}
    fields = []
    for key, value in defaults.items():
        if key in inherited:  # a new default (and help); the bounds are inherited
            item = inherited[key]
            meta = {"help": help.get(key, item.help), "choices": item.choices,
                    "minimum": item.minimum, "maximum": item.maximum,
                    "exclusive_minimum": item.exclusive_minimum}
            fields.append((key, item.type, setting(value, **meta)))
            continue
        kind = (typing.Any if value is None else tuple if isinstance(value, (list, tuple))
                else dict if isinstance(value, dict) else type(value))
        fields.append((key, kind, setting(value, help.get(key, ""),
                                          choices=choices.get(key))))
    return dataclasses.make_dataclass(f"{name}_config", fields, bases=(base,), frozen=True)


# The settings every recipe has.
COMMON_DEFAULTS = {s.name: s.default for s in Config.settings()}
COMMON_HELP = {s.name: s.help for s in Config.settings()}


# === Command line ===

def _bool(text):
    low = str(text).lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _literal(text):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _json(text):
    return json.loads(text)


_json.__name__ = "JSON"  # argparse says "invalid JSON value: ..."


def _parser_type(kind):
    """The text -> value converter of an annotation."""
    inner, optional = _optional(kind)
    base = _base(inner)
    convert = {bool: _bool, int: int, float: float, str: str}.get(base)
    if convert is None:
        convert = _json if base in (tuple, list, dict, Mapping) else _literal
    if not optional or convert is _literal:
        return convert

    def parse(text):
        return None if str(text).lower() in ("none", "null") else convert(text)

    parse.__name__ = getattr(convert, "__name__", "value")
    return parse


def build_parser(name, description, settings, *, defaults=None):
    """An ``argparse`` parser with one option per setting plus the run options.

    Args:
        name: recipe name (``kcnn train NAME``).
        description: help text.
        settings: the :class:`Setting` tuple of the recipe's configuration.
        defaults: the recipe's defaults shown in the help, when they differ from the
            settings' own.
    """
    defaults = dict(defaults or {})
    parser = argparse.ArgumentParser(
        prog=f"kcnn train {name}", description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    group = parser.add_argument_group("recipe settings (the paper's values by default)")
    for item in settings:
        value = defaults.get(item.name, item.default)
        shown = json.dumps(_thaw(value)) if isinstance(value, (list, tuple, dict, Mapping)) \
            else value
        text = item.help or " "
        if "(default" not in text:
            text = f"{text} (default: {shown})"
        text = text.replace("%", "%%")  # argparse formats help strings with %
        if _optional(item.type)[0] is bool:
            group.add_argument(item.flag, dest=item.name, default=None,
                               action=argparse.BooleanOptionalAction, help=text)
        else:
            group.add_argument(item.flag, dest=item.name, default=None,
                               type=_parser_type(item.type), choices=item.choices,
                               metavar=None if item.choices else item.name.upper(),
                               help=text)
    run = parser.add_argument_group("run options")
    run.add_argument("--output", default=None,
                     help=f"run folder (default: ./runs/{name}, ./runs/{name}_smoke with "
                          "--smoke); rerunning into it resumes")
    run.add_argument("--overwrite", action="store_true",
                     help="start afresh: delete the run in the folder (whatever its settings) "
                          "when training starts")
    run.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1,
                     help="0 silent, 1 progress bars, 2 one line per epoch")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="settings given as key=value")
    return parser


def parse_overrides(words, settings):
    """Parses ``key=value`` words into typed values (keys may use dashes or underscores).

    Args:
        words: the words.
        settings: the :class:`Setting` tuple of the configuration (or its class).
    """
    if isinstance(settings, type):
        settings = _settings(settings)
    known = {s.name: s for s in settings}
    out = {}
    for word in words:
        if "=" not in word:
            raise ValueError(f"Overrides are given as KEY=VALUE. Received: {word!r}")
        key, text = word.split("=", 1)
        key = key.strip().lstrip("-").replace("-", "_")
        if key not in known:
            close = difflib.get_close_matches(key, list(known), n=3)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise ValueError(f"Unknown setting {key!r}.{hint} Received: {word!r}")
        try:
            out[key] = _parser_type(known[key].type)(text)
        except (ValueError, argparse.ArgumentTypeError) as error:
            raise ValueError(f"Cannot parse {key}={text!r}: {error}") from None
    return out


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
    if isinstance(value, Mapping):
        return {k: _canonical(v) for k, v in value.items()}
    return value
