"""Search spaces: keras-tuner hypermodels that call kcnn's builders.

Each space declares its hyperparameters once, with the paper's values as defaults (so the
named networks are points of the space and a grid search starts from the paper's network),
and puts per-stage and per-layer hyperparameters in conditional scopes: ``kernel_size_3``
exists only when ``num_stages >= 3``, ``momentum`` only for SGD, so inactive values are never
sampled, logged or fed to the Bayesian model. Users fix or narrow any hyperparameter with
``overrides`` (see :mod:`kcnn.tuning.hparams`); no HyperModel subclass is needed::

    space = kcnn.tuning.get_space("convnet", input_shape=(16, 16, 1), num_classes=10,
                                  overrides={"num_stages": Range(1, 2), "filters": [8, 16]})
    tuner = kcnn.tuning.make_tuner(space, tuner="random", max_trials=10, epochs=3)

A space declares hyperparameters and builds (uncompiled) models; the tuner of
:mod:`kcnn.tuning.tuners` compiles and trains them with the trial's training values
(:meth:`SearchSpace.training`), so use a space through :func:`kcnn.tuning.make_tuner` or
:func:`kcnn.tuning.search`. The spaces of paper networks name their preset (``preset``) and
take their training defaults from it (:mod:`kcnn.tuning.optim`).
"""

from __future__ import annotations

import math

import keras_tuner

from kcnn.tuning import optim
from kcnn.tuning.hparams import Declarer, unknown_overrides

__all__ = ["SearchSpace", "ConvNetSpace", "ResNetSpace", "VGGSpace", "GoogLeNetSpace",
           "AlphaGoPolicySpace", "SPACES", "get_space", "list_spaces", "model_structure",
           "trainable_params"]


class SearchSpace(keras_tuner.HyperModel):
    """Base class: a kcnn builder, its hyperparameters and the paper's training settings.

    Subclasses define :meth:`declare_model` (declare the architecture hyperparameters and
    return the builder's keyword arguments) and :meth:`build_model` (call the builder), and
    name their paper's ``preset`` (``kcnn.schedules.preset``) with the search ranges of the
    training hyperparameters, or give their own ``defaults`` (a
    :class:`~kcnn.tuning.optim.TrainingDefaults`).

    Args:
        input_shape: shape of one input example.
        num_classes: number of classes.
        overrides: ``{name: value | list | Range | keras_tuner hyperparameter}`` fixing or
            narrowing hyperparameters (see :mod:`kcnn.tuning.hparams`).
    """

    name = None
    family = None
    paper = ""
    description = ""
    preset = None  # the kcnn.schedules preset of the paper's training settings
    learning_rate_range = (1e-4, 1e-1)  # search ranges around the preset's values
    batch_sizes = (32, 64, 128)
    defaults_without_preset = optim.TrainingDefaults()
    main = ()  # hyperparameters plotted against the score
    min_size = 1  # smallest input side every point of the space accepts

    def __init__(self, *, input_shape, num_classes, overrides=None):
        super().__init__(name=self.name, tunable=True)
        from kcnn._checks import check_input_shape, check_int

        check_input_shape(tuple(input_shape), min_size=self.min_size,
                          model=f"the {self.name} search space (--image-size)")
        check_int("num_classes", num_classes, minimum=1)
        self.input_shape = tuple(int(d) for d in input_shape)
        self.num_classes = int(num_classes)
        self.overrides = dict(overrides or {})
        self._space = None
        self.training_defaults = (
            optim.TrainingDefaults.from_preset(self.preset,
                                               learning_rate_range=self.learning_rate_range,
                                               batch_sizes=self.batch_sizes)
            if self.preset else self.defaults_without_preset)
        optim.check_training_overrides(self.overrides)
        unknown_overrides(self.overrides, [hp.name for hp in self.search_space().space])

    # === To define in subclasses ===

    def declare_model(self, d):
        """Declares the architecture hyperparameters on ``d``; returns builder kwargs."""
        raise NotImplementedError

    def build_model(self, **kwargs):
        """Calls the kcnn builder."""
        raise NotImplementedError

    def transform(self, values):
        """A function ``(x, y) -> (x, y)`` applied to the data of a trial, or None."""
        return None

    # === Hyperparameters ===

    def declare(self, hp):
        """Declares every hyperparameter; returns ``(builder kwargs, training values)``."""
        d = Declarer(hp, self.overrides)
        kwargs = self.declare_model(d)
        training = optim.declare_training(d, self.training_defaults)
        return kwargs, training

    def search_space(self):
        """The full space (every conditional scope visited), as keras-tuner explores it."""
        if self._space is not None:
            return self._space.copy()
        import copy

        space = keras_tuner.HyperParameters()
        never, once = [], []
        values = {}
        while True:
            hp = space.copy()
            hp.values = dict(values)
            hp.ensure_active_values()
            self.declare(hp)
            space.merge([h for h in hp.space if not space._exists(h.name, h.conditions)])
            for scope in hp.active_scopes:
                if scope not in once:
                    once.append(copy.deepcopy(scope))
                if scope in never:
                    never.remove(scope)
            for scope in hp.inactive_scopes:
                if scope not in once and scope not in never:
                    never.append(copy.deepcopy(scope))
            if not never:
                break
            values = {c.name: c.values[0] for c in never[0]}
        self._space = space
        return space.copy()

    def defaults(self):
        """The default values (the paper's point of the space)."""
        hp = keras_tuner.HyperParameters()
        self.declare(hp)
        return dict(hp.values)

    # === keras-tuner HyperModel ===

    def model_kwargs(self, hp):
        """Builder keyword arguments for the trial values in ``hp``."""
        return self.declare(hp)[0]

    def training(self, hp):
        """Training values (optimizer, rate, schedule, batch size, ...) for ``hp``."""
        return self.declare(hp)[1]

    @property
    def plateau(self):
        """``(monitor, patience)`` of the plateau rule (the preset's)."""
        return self.training_defaults.monitor, self.training_defaults.patience

    def build(self, hp):
        """The (uncompiled) model of the trial values in ``hp``; the tuner compiles it."""
        return self.build_model(**self.model_kwargs(hp))


# A dropout rate: Keras takes [0, 1); an override of 1 or more is refused when the space is
# made, not in every trial.
_RATE = (0.0, 0.999)


def _pow2_max(size, cap):
    """How many 2x2/2 poolings an input side ``size`` allows (at most ``cap``)."""
    return max(1, min(cap, int(math.floor(math.log2(max(size, 2))))))


class ConvNetSpace(SearchSpace):
    """``[(CONV-RELU)*N - POOL?]*M - (FC-RELU)*K - SOFTMAX`` (kcnn.models.convnet.convnet).

    Hyperparameters (defaults are the registered ``convnet``: 3 stages of 2 3x3 convs,
    32-64-128 filters, max pooling, one FC-128):

    - ``num_stages`` (M), 1 to min(5, log2 of the input side);
    - ``kernel_size_{i}`` for each stage i <= M (1, 3, 5, 7);
    - ``convs_per_stage`` (N), 1 to 4; ``filters`` of stage 1 and ``filter_growth``;
    - ``stage_pooling`` (max, avg, l2, max_avg), ``activation``, ``batch_norm``;
    - ``dense_layers`` (K), 0 to 2; ``dense_units_{j}`` for j <= K; ``dropout`` if K > 0.
    """

    name = "convnet"
    family = "convnet"
    paper = "CS231n ConvNet pattern [(CONV-RELU)*N-POOL?]*M-(FC-RELU)*K-SOFTMAX"
    description = "generic ConvNet: stages M, convs N, kernel per stage, widths, FC K"
    # No paper: Adam at Kingma & Ba's 1e-3, batch 64, no decay, a constant rate; momentum
    # 0.9 when SGD is chosen; a plateau rule on val_loss with patience 2 (short sweeps).
    defaults_without_preset = optim.TrainingDefaults(
        optimizer="adam", learning_rate=1e-3, learning_rate_range=(1e-4, 1e-2), momentum=0.9,
        batch_size=64, batch_sizes=(32, 64, 128), monitor="val_loss", patience=2,
        reference="Adam defaults (Kingma & Ba 2015)")
    main = ("num_stages", "kernel_size_1", "convs_per_stage", "filters", "learning_rate")

    def declare_model(self, d):
        max_stages = _pow2_max(min(self.input_shape[:2]), 5)
        m = d.int("num_stages", 1, max_stages, default=min(3, max_stages))
        kernels = []
        for i in range(1, max(d.values_of("num_stages")) + 1):
            with d.scope("num_stages", [v for v in d.values_of("num_stages") if v >= i]):
                kernels.append(d.choice(f"kernel_size_{i}", [1, 3, 5, 7], default=3))
        n = d.int("convs_per_stage", 1, 4, default=2)
        filters = d.choice("filters", [8, 16, 32, 64, 128], default=32)
        growth = d.choice("filter_growth", [1, 2], default=2)
        pooling = d.choice("stage_pooling", ["max", "avg", "l2", "max_avg"], default="max")
        activation = d.choice("activation", ["relu", "elu", "tanh"], default="relu")
        batch_norm = d.boolean("batch_norm", default=False)
        k = d.int("dense_layers", 0, 2, default=1)
        units = []
        for j in range(1, max(d.values_of("dense_layers")) + 1):
            with d.scope("dense_layers", [v for v in d.values_of("dense_layers") if v >= j]):
                units.append(d.choice(f"dense_units_{j}", [64, 128, 256, 512], default=128))
        dropout = 0.0
        with_dense = [v for v in d.values_of("dense_layers") if v >= 1]
        if with_dense:
            with d.scope("dense_layers", with_dense):
                dropout = d.float("dropout", 0.0, 0.5, step=0.1, default=0.0, domain=_RATE)
        return dict(input_shape=self.input_shape, num_classes=self.num_classes,
                    num_stages=m, convs_per_stage=n,
                    kernel_size=[kernels[i] for i in range(m)], filters=filters,
                    filter_growth=growth, stage_pooling=pooling, activation=activation,
                    batch_norm=batch_norm, dense_layers=k,
                    dense_units=[units[j] for j in range(k)] if k else 128,
                    dropout=dropout or 0.0)

    def build_model(self, **kwargs):
        from kcnn.models.convnet import convnet

        return convnet(**kwargs)


class ResNetSpace(SearchSpace):
    """ResNet (kcnn.models.resnet.resnet): blocks per stage, width, block type, shortcut.

    The defaults are one named network, ``variant`` (ResNet-20 for inputs under 64 pixels,
    ResNet-18 otherwise); the ranges contain every named depth of the same stem:
    ImageNet stages conv2..conv5 up to (3, 8, 36, 3) blocks (ResNet-152), CIFAR stages up to
    18 blocks (ResNet-110). ``width`` is the first stage's filters, doubled at each stage.

    Args:
        variant: the named ResNet whose settings are the defaults.
    """

    name = "resnet"
    family = "resnet"
    paper = "arXiv:1512.03385"
    description = "ResNet: blocks per stage, width, basic/bottleneck, shortcut"
    learning_rate_range = (1e-3, 0.3)
    batch_sizes = (64, 128, 256)
    main = ("blocks_conv2", "blocks_conv3", "width", "block", "learning_rate")

    def __init__(self, *, variant=None, **kwargs):
        from kcnn.models.resnet import VARIANTS

        shape = kwargs.get("input_shape")
        if variant is None:
            variant = "resnet20" if shape is not None and min(shape[:2]) < 64 else "resnet18"
        if variant not in VARIANTS:
            import difflib

            close = difflib.get_close_matches(str(variant), list(VARIANTS), n=2)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            raise ValueError(f"`variant` must be one of {', '.join(VARIANTS)}.{hint} "
                             f"Received: variant={variant!r}")
        self.variant = variant
        # He et al.'s settings: section 4.2 for the CIFAR networks, 3.4 for ImageNet's.
        self.preset = "resnet_cifar" if VARIANTS[variant].stem == "cifar" else "resnet_imagenet"
        # total stride: 4 (stem) * 2 ** 3 (ImageNet), 2 ** 2 (CIFAR)
        self.min_size = 32 if VARIANTS[variant].stem == "imagenet" else 4
        super().__init__(**kwargs)

    def declare_model(self, d):
        from kcnn.models.resnet import VARIANTS

        block, blocks, filters, stem = VARIANTS[self.variant]
        maxima = (3, 8, 36, 3) if stem == "imagenet" else (18, 18, 18)
        block = d.choice("block", ["basic", "bottleneck"], default=block)
        num_blocks = [d.int(f"blocks_conv{s + 2}", 1, hi, default=n)
                      for s, (n, hi) in enumerate(zip(blocks, maxima))]
        widths = [16, 32, 64] if stem == "cifar" else [32, 64, 96, 128]
        width = d.choice("width", widths, default=filters[0])
        shortcut = d.choice("shortcut", ["A", "B"], default="A" if stem == "cifar" else "B")
        zero_init = d.boolean("zero_init_residual", default=False)
        return dict(input_shape=self.input_shape, num_classes=self.num_classes, stem=stem,
                    block=block, stackwise_num_blocks=tuple(num_blocks),
                    stackwise_num_filters=tuple(width * 2 ** s for s in range(len(blocks))),
                    shortcut=shortcut, zero_init_residual=zero_init)

    def build_model(self, **kwargs):
        from kcnn.models.resnet import resnet

        return resnet(**kwargs)


class VGGSpace(SearchSpace):
    """VGG (kcnn.models.vgg.vgg): configuration (convs per block), widths, FC, BN, dropout.

    ``depth`` picks the paper's configuration of convolutions per block (A: 11, B: 13,
    D: 16, E: 19; Table 1); ``width`` is block 1's filters (64 in the paper), doubled up to
    8x in blocks 4 and 5; ``fc_units`` the width of fc1 and fc2 (4096).
    """

    name = "vgg"
    family = "vgg"
    paper = "arXiv:1409.1556"
    description = "VGG: configuration A/B/D/E (convs per block), widths, FC width, BN"
    preset = "vgg"
    learning_rate_range = (1e-4, 0.1)
    batch_sizes = (64, 128, 256)
    main = ("depth", "width", "fc_units", "learning_rate")
    min_size = 32  # five 2x2 poolings

    def declare_model(self, d):
        depth = d.choice("depth", [11, 13, 16, 19], default=16)
        width = d.choice("width", [8, 16, 32, 64], default=64)
        fc_units = d.choice("fc_units", [256, 1024, 4096], default=4096)
        batch_norm = d.boolean("batch_norm", default=False)
        dropout = d.float("dropout", 0.0, 0.5, step=0.1, default=0.5, domain=_RATE)
        filters = tuple(width * m for m in (1, 2, 4, 8, 8))
        return dict(depth=depth, input_shape=self.input_shape, num_classes=self.num_classes,
                    filters=filters, fc_units=fc_units, batch_norm=batch_norm,
                    dropout=dropout)

    def build_model(self, *, depth, **kwargs):
        from kcnn.models.vgg import vgg

        return vgg(depth, **kwargs)


class GoogLeNetSpace(SearchSpace):
    """GoogLeNet (kcnn.models.googlenet.googlenet): Inception widths scaled, LRN, dropout.

    ``width_multiplier`` scales every branch of Table 1 (#1x1, #3x3 reduce, #3x3,
    #5x5 reduce, #5x5, pool proj) and the stem; 1.0 is the paper's network.
    """

    name = "googlenet"
    family = "googlenet"
    paper = "arXiv:1409.4842"
    description = "GoogLeNet: Inception branch widths (scale), LRN, dropout"
    preset = "googlenet"
    learning_rate_range = (1e-4, 0.1)
    batch_sizes = (32, 64, 128, 256)
    main = ("width_multiplier", "dropout", "learning_rate")
    min_size = 32  # total stride 32

    def declare_model(self, d):
        scale = d.choice("width_multiplier", [0.125, 0.25, 0.5, 0.75, 1.0], default=1.0)
        lrn = d.boolean("lrn", default=True)
        dropout = d.float("dropout", 0.0, 0.7, step=0.1, default=0.4, domain=_RATE)
        return dict(input_shape=self.input_shape, num_classes=self.num_classes,
                    width_multiplier=scale, lrn=lrn, dropout=dropout)

    def build_model(self, **kwargs):
        from kcnn.models.googlenet import googlenet

        return googlenet(**kwargs)


class AlphaGoPolicySpace(SearchSpace):
    """AlphaGo's SL policy network (kcnn.models.alphago.alphago_policy).

    Hyperparameters: ``filters`` k (192; Extended Data Table 3 also trains 128, 256, 384),
    ``num_layers`` hidden convolutions (12), ``first_kernel_size`` (5) and ``input_planes``,
    the feature subset of Extended Data Table 3: the first 4, 12, 20 or all 48 planes of
    ``kcnn.go.features`` (the data keep 48 planes; each trial slices its subset, and the
    network it builds takes only those planes).
    """

    name = "alphago_policy"
    family = "alphago"
    paper = "Silver et al., Nature 529:484-489, 2016"
    description = "AlphaGo SL policy: filters k, layers, first kernel, feature subset"
    preset = "alphago"
    learning_rate_range = (3e-4, 0.03)
    batch_sizes = (16, 64, 256)
    main = ("filters", "num_layers", "input_planes", "first_kernel_size")
    FEATURE_SUBSETS = (4, 12, 20, 48)

    def declare_model(self, d):
        planes = self.input_shape[-1]
        subsets = [p for p in self.FEATURE_SUBSETS if p <= planes] or [planes]
        filters = d.choice("filters", [64, 128, 192, 256, 384], default=192)
        layers = d.int("num_layers", 2, 13, default=12)
        first = d.choice("first_kernel_size", [3, 5, 7], default=5)
        used = d.choice("input_planes", subsets, default=subsets[-1]) if len(subsets) > 1 \
            else d.fixed("input_planes", subsets[0])
        return dict(board_size=self.input_shape[0], input_planes=used, filters=filters,
                    num_layers=layers, first_kernel_size=first)

    def build_model(self, **kwargs):
        from kcnn.models.alphago import alphago_policy

        return alphago_policy(**kwargs)

    def transform(self, values):
        used = int(values.get("input_planes", self.input_shape[-1]))
        if used == self.input_shape[-1]:
            return None
        return lambda x, y: (x[..., :used], y)


SPACES = {cls.name: cls for cls in (ConvNetSpace, ResNetSpace, VGGSpace, GoogLeNetSpace,
                                    AlphaGoPolicySpace)}


def list_spaces():
    """``[(name, description, paper)]`` of the search spaces."""
    return [(name, cls.description, cls.paper) for name, cls in SPACES.items()]


def get_space(name, *, input_shape, num_classes, overrides=None, **kwargs):
    """The search space ``name`` for data of ``input_shape`` with ``num_classes`` classes.

    Args:
        name: one of ``SPACES`` (``convnet``, ``resnet``, ``vgg``, ``googlenet``,
            ``alphago_policy``) or a :class:`SearchSpace` subclass.
        input_shape: shape of one example.
        num_classes: number of classes.
        overrides: hyperparameters to fix or narrow.
        **kwargs: further space arguments (``variant`` for ResNet).
    """
    if isinstance(name, type) and issubclass(name, SearchSpace):
        cls = name
    else:
        if not isinstance(name, str) or name.lower() not in SPACES:
            import difflib

            close = difflib.get_close_matches(str(name).lower(), list(SPACES), n=2)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            raise ValueError(f"Unknown search space {name!r}.{hint} Spaces: "
                             f"{', '.join(SPACES)}. Received: name={name!r}")
        cls = SPACES[name.lower()]
    if "variant" in kwargs and not issubclass(cls, ResNetSpace):
        raise ValueError(f"`variant` picks the default point of the resnet space; the "
                         f"{cls.name} space has none. Received: variant={kwargs['variant']!r}")
    return cls(input_shape=input_shape, num_classes=num_classes, overrides=overrides,
               **kwargs)


def trainable_params(model):
    """The number of trainable parameters of ``model`` (what ``max_model_size`` limits)."""
    return int(sum(math.prod(w.shape) for w in model.trainable_weights))


def model_structure(model):
    """What was actually built: the convolution and dense layers with their sizes.

    Returns:
        ``{"params": trainable parameters, "conv": [[name, kernel, filters], ...],
        "dense": [[name, units], ...]}``, nested layers (residual blocks, Inception
        modules) included.
    """
    import keras

    conv, dense = [], []
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.layers.Conv2D):
            conv.append([layer.name, list(layer.kernel_size), int(layer.filters)])
        elif isinstance(layer, keras.layers.Dense):
            dense.append([layer.name, int(layer.units)])
    return {"params": trainable_params(model), "conv": conv, "dense": dense}
