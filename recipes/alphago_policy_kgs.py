"""AlphaGo's supervised-learning policy network on KGS game records (Silver et al., Nature
529, 2016, Methods and Extended Data Tables 2-3).

    kcnn go convert KGS_SGF_DIR SHARDS                       # features, split by game
    python recipes/alphago_policy_kgs.py --data-dir SHARDS    # or: kcnn train alphago_policy_kgs
    python recipes/alphago_policy_kgs.py --sgf-dir KGS_SGF_DIR --data-dir SHARDS   # both

The paper's settings: the 48 input planes of Extended Data Table 2 (``--planes 4``, ``12``
or ``20`` train on the first planes only, as in Extended Data Table 3), k = 192 filters, a
random one of the 8 board symmetries applied to every position, plain SGD without momentum
or weight decay, minibatches of 16, learning rate 0.003 halved every 80 million steps, 340
million steps in all (185 passes over the paper's 29.4 million positions). Passes are not
training examples. The test set is the converter's held-out games; the reported accuracy is
the top-1 move accuracy of a single evaluation (55.4% for k = 192 in the paper), and
metrics.json also holds top-5 and the 8-symmetry ensemble's accuracies (57.0% top-1 for
k = 256). ``--smoke`` trains a tiny network on a few seeded random 9x9 games written as SGF.
"""

import atexit
import os
import shutil
import sys
import tempfile

import kcnn
from kcnn import training
from kcnn.training import classification as cls


def _smoke_shards(cfg):
    import kcnn.go as go

    root = tempfile.mkdtemp(prefix="kcnn-go-smoke-")
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    go.write_random_games(os.path.join(root, "sgf"), 8, size=9, num_moves=40, seed=cfg.seed)
    go.convert(os.path.join(root, "sgf"), os.path.join(root, "shards"), board_size=9,
               planes=48, test_fraction=0.25, seed=cfg.split_seed, workers=1,
               progress=False)
    return os.path.join(root, "shards")


def data(cfg):
    import kcnn.go as go

    if cfg.smoke:
        shards = _smoke_shards(cfg)
        source = "seeded random 9x9 games (smoke)"
    else:
        if not cfg.data_dir:
            raise ValueError("the recipe needs converted shards: pass --data-dir SHARDS (made "
                             "by `kcnn go convert`), or --sgf-dir to convert SGF records into "
                             "--data-dir first. Received: data_dir=None")
        shards = cfg.data_dir
        if cfg.sgf_dir and not os.path.exists(os.path.join(shards, "metadata.json")):
            go.convert(cfg.sgf_dir, shards, test_fraction=cfg.test_fraction,
                       seed=cfg.split_seed)
        source = shards
    meta = go.load_metadata(shards)
    size = meta["board_size"]
    planes = go.num_planes(cfg.planes)
    train = go.dataset(shards, "train", batch_size=cfg.batch_size, planes=planes,
                       symmetries=cfg.symmetries, shuffle=True,
                       shuffle_buffer=cfg.shuffle_buffer, seed=cfg.seed)
    test = go.dataset(shards, "test", batch_size=cfg.eval_batch_size, planes=planes,
                      symmetries=False, shuffle=False)
    train_size = meta["splits"]["train"]["positions"]
    test_size = meta["splits"]["test"]["positions"]
    return training.Data(
        train=train, test=test, num_classes=size * size, input_shape=(size, size, planes),
        train_size=train_size, test_size=test_size,
        description=(f"{source}: {train_size:,} train positions from "
                     f"{meta['splits']['train']['games']} games, {test_size:,} test positions "
                     f"from {meta['splits']['test']['games']} held-out games, {planes} planes"),
        eval_protocol="single evaluation (8-symmetry ensemble in metrics.json)")


def model(cfg, data):
    size, _, planes = data.input_shape
    return kcnn.build(cfg.model, board_size=size, input_planes=planes, filters=cfg.filters,
                      num_layers=cfg.num_layers)


def compile(cfg, data):
    p = cls.schedule_preset("alphago", cfg, data)
    optimizer = cls.paper_optimizer(p.learning_rate, momentum=p.momentum)
    return cls.classifier_compile(optimizer, num_classes=data.num_classes)


def callbacks(cfg, data, run):
    return cls.schedule_preset("alphago", cfg, data, run).callbacks


def evaluate(cfg, model, data):
    import kcnn.go as go

    result = go.evaluate_policy(model, data.test, ensemble=cfg.ensemble)
    out = {"accuracy": result["top1"], "top5_accuracy": result["top5"],
           "examples": result["positions"]}
    if cfg.ensemble:
        out.update(ensemble_accuracy=result["top1_ensemble"],
                   ensemble_top5_accuracy=result["top5_ensemble"])
    return out


RECIPE = training.Recipe(
    name="alphago_policy_kgs",
    description=__doc__.split("\n\n")[0],
    defaults={
        "model": "alphago_policy",
        "data_dir": None,
        "sgf_dir": None,
        "planes": 48,
        "filters": 192,
        "num_layers": 12,
        "epochs": 185,
        "batch_size": 16,
        "lr": None,
        "symmetries": True,
        "ensemble": True,
        "shuffle_buffer": 20_000,
        "eval_batch_size": 256,
        "test_fraction": 0.034,
        "split_seed": 0,
    },
    help={"data_dir": "folder of shards from `kcnn go convert`",
          "sgf_dir": "SGF records (file, folder, zip or tar) converted into --data-dir when "
                     "it holds no shards yet",
          "planes": "input planes: 48, or the first 4, 12 or 20 (Extended Data Table 3)",
          "filters": "k, filters per hidden layer (192; 128, 256, 384 in Extended Data "
                     "Table 3)",
          "num_layers": "hidden convolution layers (12)",
          "epochs": "185 passes over 29.4M positions at batch 16 are the paper's 340M steps",
          "lr": "initial rate (default: 0.003 at batch 16, scaled linearly with "
                "--batch-size), halved every 80M steps",
          "symmetries": "apply a random one of the 8 board symmetries to every position",
          "ensemble": "also evaluate the 8-symmetry ensemble",
          "shuffle_buffer": "positions in the shuffle buffer",
          "eval_batch_size": "batch size of the test evaluation",
          "test_fraction": "share of games held out when --sgf-dir is converted (1/29.4)",
          "split_seed": "seed of the train/test split by game"},
    choices={"model": ("alphago_policy",), "planes": (4, 12, 20, 48)},
    data=data, model=model, compile=compile, callbacks=callbacks, evaluate=evaluate,
    smoke={"epochs": 1, "steps_per_epoch": 2, "batch_size": 8, "filters": 8,
           "num_layers": 2, "eval_batch_size": 64},
)


def main(argv=None):
    return RECIPE.main(argv)


if __name__ == "__main__":
    sys.exit(main())
