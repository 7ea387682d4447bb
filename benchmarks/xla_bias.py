"""Why kcnn's ResNets train slower than keras.applications' under XLA on a CPU: an A/B with
keras.applications' own network stripped of its convolution biases.

    python benchmarks/xla_bias.py [--model resnet152] [--precision float32] [--rounds 6]

Three models train side by side under ``jit_compile=True`` (batch 8, 224x224, interleaved
rounds, CPU time): kcnn's network, keras.applications' peer, and the peer rebuilt with
``use_bias=False`` in every convolution (as kcnn, the BatchNorm after each convolution makes
the bias redundant). Prints the round-by-round ratios and writes them as JSON with
``--json PATH``.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def without_conv_bias(model_fn):
    import keras

    def clone(layer):
        config = layer.get_config()
        if isinstance(layer, keras.layers.Conv2D):
            config["use_bias"] = False
        return type(layer).from_config(config)

    return keras.models.clone_model(model_fn(weights=None), clone_function=clone)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="resnet152", choices=("resnet50", "resnet152"))
    parser.add_argument("--precision", default="float32")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

    import keras

    import kcnn
    from kcnn.bench import throughput, timing

    keras.mixed_precision.set_dtype_policy(args.precision)
    peer = getattr(keras.applications, throughput.PEERS[args.model])
    models = {"kcnn": kcnn.build(args.model), "keras": peer(weights=None),
              "keras_without_bias": without_conv_bias(peer)}
    x, y = throughput._batch(8, 224)
    units = {}
    for key, model in models.items():
        throughput._compile(model, True)
        units[key] = throughput._train_unit(model, x, y, 1)
    rates = timing.interleaved(units, repeats=args.rounds, warmup=1)["cpu"]
    result = {"model": args.model, "precision": args.precision, "rounds": args.rounds,
              "params": {k: m.count_params() for k, m in models.items()},
              "ratios": {f"{a}/{b}": timing.paired_ratio(rates[a], rates[b])
                         for a, b in (("kcnn", "keras"), ("keras_without_bias", "keras"),
                                      ("kcnn", "keras_without_bias"))}}
    for name, r in result["ratios"].items():
        print(f"{name:32s} {r['median']:.3f} [{r['min']:.3f}-{r['max']:.3f}]")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
