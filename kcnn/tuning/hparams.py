"""Declaring hyperparameters once, with user overrides applied at declaration.

A search space declares each hyperparameter through a :class:`Declarer` (``d.int``,
``d.choice``, ``d.float``, ``d.boolean``) with the paper's value as default. The user's
overrides replace a declaration without any HyperModel subclass:

- a plain value fixes it (``{"kernel_size_1": 5}``);
- a list gives the choices (``{"filters": [16, 32]}``);
- a :class:`Range` (or a ``range``) narrows a numeric range
  (``{"num_stages": Range(1, 3)}``, ``{"learning_rate": Range(1e-4, 1e-2, sampling="log")}``);
  the default moves to the nearest bound when the range leaves it out;
- a ``keras_tuner`` hyperparameter object is used as given.

On the command line the same overrides are written ``--set name=5``, ``--set name=16,32`` and
``--set name=1:3`` / ``--set name=1e-4:1e-2:log`` / ``--set name=0:0.5:0.1`` (``lo:hi[:step]
[:log]``); :func:`parse_override` reads them.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import numbers

from keras_tuner.engine import hyperparameters as hp_types

__all__ = ["Range", "Declarer", "parse_override", "parse_overrides", "check_grid_space",
           "describe_space"]

# Names keras-tuner's Hyperband adds to every trial's values.
TUNER_KEYS = ("tuner/epochs", "tuner/initial_epoch", "tuner/bracket", "tuner/round",
              "tuner/trial_id")


@dataclasses.dataclass(frozen=True)
class Range:
    """A numeric range overriding a hyperparameter's declared range.

    Attributes:
        min_value: lower bound (inclusive).
        max_value: upper bound (inclusive).
        step: distance between values (multiplicative factor with ``sampling="log"``), or
            None for a continuous float range.
        sampling: "linear", "log" or "reverse_log".
    """

    min_value: float
    max_value: float
    step: float | None = None
    sampling: str = "linear"

    def __post_init__(self):
        for arg in ("min_value", "max_value"):
            v = getattr(self, arg)
            if isinstance(v, bool) or not isinstance(v, numbers.Real):
                raise TypeError(f"`{arg}` must be a number. Received: {arg}={v!r}")
        if self.min_value > self.max_value:
            raise ValueError("`min_value` must not exceed `max_value`. Received: "
                             f"min_value={self.min_value!r}, max_value={self.max_value!r}")
        if self.sampling not in ("linear", "log", "reverse_log"):
            raise ValueError("`sampling` must be 'linear', 'log' or 'reverse_log'. "
                             f"Received: sampling={self.sampling!r}")
        if self.sampling != "linear" and self.min_value <= 0:
            raise ValueError("A log range needs a positive `min_value`. "
                             f"Received: min_value={self.min_value!r}")


def _is_int(v):
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_number(v):
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _check_domain(name, value, *, lowest, domain):
    """Refuses an override whose values no network accepts (see ``Declarer``)."""
    if isinstance(value, hp_types.HyperParameter):
        return
    if isinstance(value, range):
        candidates = [value.start, value.stop - 1] if len(value) else []
    elif isinstance(value, Range):
        candidates = [value.min_value, value.max_value]
    elif isinstance(value, (list, tuple)):
        candidates = list(value)
    else:
        candidates = [value]
    for v in candidates:
        if not _is_number(v):
            continue
        if domain is not None:
            lo, hi = domain
            if not lo <= v <= hi:
                raise ValueError(f"`{name}` must be in [{lo:g}, {hi:g}]. "
                                 f"Received: {name}={value!r}")
        elif lowest is not None and _is_number(lowest):
            if lowest > 0 and v <= 0:
                raise ValueError(f"`{name}` must be positive. Received: {name}={value!r}")
            if lowest == 0 and v < 0:
                raise ValueError(f"`{name}` must be >= 0. Received: {name}={value!r}")


def _literal(text):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        low = text.strip().lower()
        if low in ("true", "false"):
            return low == "true"
        if low in ("none", "null"):
            return None
        return text.strip()


def parse_override(text):
    """Reads one ``--set`` value: ``5``, ``16,32``, ``1:3``, ``1e-4:1e-2:log``,
    ``0:0.5:0.1``, ``relu``.

    Returns:
        A plain value (fix), a list (choices) or a :class:`Range`.
    """
    if not isinstance(text, str):
        raise TypeError(f"`text` must be a string. Received: text={text!r}")
    if ":" in text:
        parts = text.split(":")
        sampling = "linear"
        if parts[-1].strip().lower() in ("log", "linear", "reverse_log"):
            sampling = parts.pop().strip().lower()
        if len(parts) not in (2, 3):
            raise ValueError("A range is written lo:hi[:step][:log]. "
                             f"Received: {text!r}")
        values = [_literal(p) for p in parts]
        if not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values):
            raise ValueError(f"A range needs numbers: lo:hi[:step][:log]. Received: {text!r}")
        return Range(values[0], values[1], values[2] if len(values) == 3 else None, sampling)
    if "," in text:
        return [_literal(p) for p in text.split(",") if p.strip()]
    return _literal(text)


def parse_overrides(pairs):
    """``["name=value", ...]`` (the CLI's ``--set``) into an overrides dict."""
    overrides = {}
    for pair in pairs or ():
        if "=" not in pair:
            raise ValueError(f"--set expects name=value. Received: {pair!r}")
        name, value = pair.split("=", 1)
        overrides[name.strip().replace("-", "_")] = parse_override(value)
    return overrides


class Declarer:
    """Declares hyperparameters on a ``keras_tuner.HyperParameters`` with overrides applied.

    Every method returns the hyperparameter's value for the current trial, or None when it
    sits in an inactive conditional scope. ``declared`` collects the names seen, so that
    overrides naming no hyperparameter are reported.
    """

    def __init__(self, hp, overrides=None):
        self.hp = hp
        self.overrides = dict(overrides or {})
        self.declared = []

    def _declare(self, name, default_factory, *, numeric_default=None, kind, lowest=None,
                 domain=None):
        self.declared.append(name)
        if name not in self.overrides:
            return default_factory()
        value = self.overrides[name]
        _check_domain(name, value, lowest=lowest, domain=domain)
        hp = self.hp
        if isinstance(value, hp_types.HyperParameter):
            # Re-declared through the same method so that it joins the current scope.
            config = value.get_config()
            config.pop("name", None)
            config.pop("conditions", None)
            return getattr(hp, type(value).__name__)(name, **config)
        if isinstance(value, range):
            value = Range(value.start, value.stop - 1, value.step)
        if isinstance(value, Range):
            if kind == "int":
                for arg in ("min_value", "max_value", "step"):
                    v = getattr(value, arg)
                    if v is not None and not float(v).is_integer():
                        raise ValueError(f"{name!r} is an integer hyperparameter; its range "
                                         f"needs integers. Received: {name}={value}")
                lo, hi = int(value.min_value), int(value.max_value)
                default = lo if numeric_default is None else min(max(numeric_default, lo), hi)
                return hp.Int(name, lo, hi, step=None if value.step is None else
                              int(value.step), sampling=value.sampling, default=default)
            if kind == "float":
                default = value.min_value if numeric_default is None else \
                    min(max(numeric_default, value.min_value), value.max_value)
                return hp.Float(name, float(value.min_value), float(value.max_value),
                                step=value.step, sampling=value.sampling,
                                default=float(default))
            raise ValueError(f"{name!r} takes values, not a numeric range. "
                             f"Received: {name}={value}")
        if isinstance(value, (list, tuple)):
            values = list(value)
            if not values:
                raise ValueError(f"Override {name!r} needs at least one value. "
                                 f"Received: {name}={value!r}")
            if len(values) == 1:
                return hp.Fixed(name, values[0])
            if kind == "float":
                values = [float(v) for v in values]
            default = numeric_default if numeric_default in values else values[0]
            return hp.Choice(name, values, default=default)
        if kind == "float" and isinstance(value, numbers.Real) and not isinstance(value, bool):
            value = float(value)
        return hp.Fixed(name, value)

    # Overrides are checked against ``domain=(low, high)`` when given, else against the sign
    # of the declared values: a hyperparameter declared positive (a rate, a width) refuses
    # 0 and negatives, one declared from 0 (a decay) refuses negatives. The check runs when
    # the space is made, before any trial.

    def int(self, name, min_value, max_value, *, default, step=1, sampling="linear",
            domain=None):
        """An integer in ``[min_value, max_value]``."""
        return self._declare(
            name, lambda: self.hp.Int(name, min_value, max_value, step=step,
                                      sampling=sampling, default=default),
            numeric_default=default, kind="int", lowest=min_value, domain=domain)

    def float(self, name, min_value, max_value, *, default, step=None, sampling="linear",
              domain=None):
        """A float in ``[min_value, max_value]`` (continuous when ``step`` is None)."""
        return self._declare(
            name, lambda: self.hp.Float(name, min_value, max_value, step=step,
                                        sampling=sampling, default=default),
            numeric_default=default, kind="float", lowest=min_value, domain=domain)

    def choice(self, name, values, *, default, domain=None):
        """One of ``values``."""
        kind = "float" if all(isinstance(v, float) for v in values) else "choice"
        numeric = [v for v in values if _is_number(v)]
        return self._declare(name, lambda: self.hp.Choice(name, list(values), default=default),
                             numeric_default=default, kind=kind,
                             lowest=min(numeric) if len(numeric) == len(values) else None,
                             domain=domain)

    def boolean(self, name, *, default):
        """True or False."""
        return self._declare(name, lambda: self.hp.Boolean(name, default=default),
                             numeric_default=default, kind="bool")

    def fixed(self, name, value, *, domain=None):
        """A value the user can still override (not searched by default)."""
        kind = "float" if isinstance(value, float) else "int" if _is_int(value) else "value"
        return self._declare(name, lambda: self.hp.Fixed(name, value), numeric_default=value,
                             kind=kind, lowest=value if _is_number(value) else None,
                             domain=domain)

    def scope(self, parent, values):
        """A conditional scope: what is declared inside is active only when ``parent`` takes
        one of ``values`` (keras-tuner ``conditional_scope``)."""
        return self.hp.conditional_scope(parent, list(values))

    def values_of(self, name):
        """All values a declared hyperparameter can take (to size per-stage loops)."""
        hp = next(h for h in reversed(self.hp.space) if h.name == name)
        return _values(hp)


def _values(hp):
    if isinstance(hp, hp_types.Fixed):
        return [hp.value]
    if isinstance(hp, hp_types.Boolean):
        return [False, True]
    if isinstance(hp, hp_types.Choice):
        return list(hp.values)
    if isinstance(hp, hp_types.Int):
        if hp.step is not None and hp.sampling == "linear":
            return list(range(hp.min_value, hp.max_value + 1, hp.step))
        return sorted(set(hp.values) | {hp.min_value, hp.max_value})
    return list(hp.values)


def unknown_overrides(overrides, names):
    """Raises ValueError for override names that no hyperparameter carries."""
    names = list(dict.fromkeys(names))
    bad = [k for k in overrides if k not in names]
    if bad:
        hints = []
        for k in bad:
            close = difflib.get_close_matches(k, names, n=3, cutoff=0.5)
            hints.append(f"{k!r}" + (f" (did you mean {', '.join(map(repr, close))}?)"
                                     if close else ""))
        raise ValueError(f"Unknown hyperparameter {', '.join(hints)}. This space has: "
                         f"{', '.join(names)}. Received: overrides={overrides!r}")


def check_grid_space(hyperparameters):
    """Grid search needs every hyperparameter to have finitely many values.

    keras-tuner's grid silently picks 10 values of a continuous float (and of a log-sampled
    integer without step); kcnn refuses instead and says how to make the range discrete.
    """
    bad = []
    for hp in hyperparameters.space:
        if hp.name in TUNER_KEYS:
            continue
        if isinstance(hp, hp_types.Float) and hp.step is None:
            bad.append(f"{hp.name} (continuous float in [{hp.min_value:g}, "
                       f"{hp.max_value:g}], {hp.sampling})")
        elif isinstance(hp, hp_types.Int) and hp.step is None:
            bad.append(f"{hp.name} ({hp.sampling} integer in [{hp.min_value}, "
                       f"{hp.max_value}] without step)")
    if bad:
        raise ValueError(
            "Grid search needs discrete or stepped ranges; these hyperparameters have "
            f"neither: {'; '.join(bad)}. Fix them (--set NAME=VALUE), list values "
            "(--set NAME=A,B,C) or give a step (--set NAME=LO:HI:STEP, with :log the step "
            "is a factor), or use --tuner random|bayesian|hyperband.")


def grid_size(hyperparameters):
    """Number of points of a discrete space, counting conditional branches."""
    import itertools

    space = [hp for hp in hyperparameters.space if hp.name not in TUNER_KEYS]
    roots = [hp for hp in space if not hp.conditions]
    children = [hp for hp in space if hp.conditions]
    if not children:
        n = 1
        for hp in roots:
            n *= len(_values(hp))
        return n
    # Enumerate the parents' values, then multiply the active children's value counts.
    parents = sorted({c.name for hp in children for c in hp.conditions})
    parent_hps = [next(h for h in space if h.name == p) for p in parents]
    others = [hp for hp in roots if hp.name not in parents]
    base = 1
    for hp in others:
        base *= len(_values(hp))
    total = 0
    for combo in itertools.product(*(_values(h) for h in parent_hps)):
        values = dict(zip(parents, combo))
        n = 1
        for hp in children:
            if all(c.is_active(values) for c in hp.conditions):
                n *= len(_values(hp))
        total += n
    return base * total


def describe_space(hyperparameters):
    """One line per hyperparameter: name, kind, values or range, default, condition."""
    lines = []
    for hp in hyperparameters.space:
        if isinstance(hp, hp_types.Fixed):
            what = f"fixed {hp.value!r}"
        elif isinstance(hp, hp_types.Boolean):
            what = f"boolean, default {hp.default}"
        elif isinstance(hp, hp_types.Choice):
            what = f"choice {list(hp.values)}, default {hp.default!r}"
        else:
            kind = "int" if isinstance(hp, hp_types.Int) else "float"
            step = "" if hp.step is None else f", step {hp.step:g}"
            what = (f"{kind} [{hp.min_value:g}, {hp.max_value:g}]{step}, {hp.sampling}, "
                    f"default {hp.default:g}")
        cond = ""
        if hp.conditions:
            cond = "  if " + " and ".join(
                f"{c.name} in {list(c.values)}" for c in hp.conditions)
        lines.append(f"{hp.name}: {what}{cond}")
    return "\n".join(lines)
