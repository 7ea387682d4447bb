"""Learning-rate schedules, schedule callbacks, paper presets and a range test.

Schedules (``LearningRateSchedule`` objects, registered for ``.keras`` reloading; each can be
an optimizer's ``learning_rate`` or be driven by a callback):

- :class:`StepDecay` (GoogLeNet's 4% every 8 epochs, AlphaGo's halving every 80M steps),
  :class:`MultiStepDecay` (ResNet-CIFAR's /10 at 32k and 48k), :class:`OneCycle`,
  :class:`Warmup` (linear, constant, exponential or cosine, around any schedule);
- Keras's ``PolynomialDecay``, ``CosineDecay``, ``CosineDecayRestarts`` (SGDR),
  ``ExponentialDecay``, ``PiecewiseConstantDecay``, re-exported.

Callbacks (rate from epoch and batch index, logged as ``logs["learning_rate"]``, resumable
after ``keras.callbacks.BackupAndRestore``): :class:`ScheduleCallback`,
:class:`ReduceOnPlateau` (the papers' "divide by 10 when the validation error plateaus", with
warmup, cooldown and a maximum number of reductions), :class:`LearningRateLogger`.

Also :func:`preset` (``"alexnet"``, ``"vgg"``, ``"googlenet"``, ``"resnet_imagenet"``,
``"resnet_cifar"``, ``"resnet110_cifar"``, ``"alphago"``): the one record of each paper's
optimizer, rate, momentum, coupled weight decay (kernels only), batch size, schedule and
length (:data:`PRESETS`), bound to a run as a :class:`Preset` whose ``make_optimizer()``
calls ``kcnn.optimizers.make_optimizer``; :func:`scale_learning_rate` (Goyal et al.'s
linear scaling rule) and :func:`find_lr` (the range test).
"""

import keras as _keras

from kcnn.schedules.callbacks import (LOG_KEY, LearningRateCallback, LearningRateLogger,
                                      ReduceOnPlateau, ScheduleCallback)
from kcnn.schedules.decay import (WARMUP_KINDS, MultiStepDecay, OneCycle, StepDecay, Warmup,
                                  scale_learning_rate)
from kcnn.schedules.finder import LRFinderResult, find_lr
from kcnn.schedules.presets import PRESETS, PaperSettings, Preset, list_presets, preset

PolynomialDecay = _keras.optimizers.schedules.PolynomialDecay
CosineDecay = _keras.optimizers.schedules.CosineDecay
CosineDecayRestarts = _keras.optimizers.schedules.CosineDecayRestarts
ExponentialDecay = _keras.optimizers.schedules.ExponentialDecay
PiecewiseConstantDecay = _keras.optimizers.schedules.PiecewiseConstantDecay
LearningRateSchedule = _keras.optimizers.schedules.LearningRateSchedule

__all__ = [
    "StepDecay", "MultiStepDecay", "OneCycle", "Warmup", "WARMUP_KINDS",
    "PolynomialDecay", "CosineDecay", "CosineDecayRestarts", "ExponentialDecay",
    "PiecewiseConstantDecay", "LearningRateSchedule",
    "LearningRateCallback", "ScheduleCallback", "ReduceOnPlateau", "LearningRateLogger",
    "LOG_KEY", "Preset", "PaperSettings", "PRESETS", "preset", "list_presets",
    "scale_learning_rate",
    "find_lr", "LRFinderResult",
]
