"""``kcnn bench``: kcnn against keras.applications, measured side by side in one run.

    kcnn bench --quick                       # ResNet-50 float32, a few rounds (minutes)
    kcnn bench                               # everything below (hours on a 2-core CPU)
    kcnn bench --sections throughput --models resnet50 --precisions float32 mixed_bfloat16

Sections (``--sections``):

- ``throughput``: training and inference images/s of kcnn's ``resnet50``, ``resnet152``,
  ``vgg16`` and keras.applications' ``ResNet50``, ``ResNet152``, ``VGG16`` (``weights=None``)
  in each precision, with and without ``jit_compile``; kcnn's folded inference model
  (``kcnn.inference.optimize_for_inference``); MFU of training
  (``kcnn.bench.throughput``);
- ``choices``: kcnn's ResNet-50 in every precision and XLA setting side by side, the
  measurements behind ``--precision auto`` and the ``jit_compile`` default;
- ``import``: ``import kcnn`` after TensorFlow and Keras, in fresh processes;
- ``build``: ``kcnn.build("resnet152")`` against ``keras.applications.ResNet152``;
- ``pipeline``: the recipes' ``tf.data`` pipelines against their training steps
  (``kcnn.bench.pipeline``);
- ``go``: Go feature extraction positions/s (``benchmarks/bench_go.py``).

Every comparison is a ratio of rates measured in interleaved rounds in the same process
(``kcnn.bench.timing``), reported as the median with its min and max. The device is
whatever TensorFlow uses (the first GPU when present), so the same command measures a GPU
machine. Results go to ``OUTPUT/results.json`` (rewritten after every measurement) and
``OUTPUT/results.md``; the table is printed at the end.
"""

from kcnn.bench import timing
from kcnn.bench.cli import build_parser, cli_main
from kcnn.bench.runner import FULL, QUICK, SECTIONS, run

__all__ = ["cli_main", "build_parser", "run", "SECTIONS", "QUICK", "FULL", "timing"]
