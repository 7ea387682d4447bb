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
import dataclasses
import os
import shutil
import sys
import tempfile

import kcnn
from kcnn import training
from kcnn.schedules import PRESETS
from kcnn.training import classification

setting = training.setting


@dataclasses.dataclass(frozen=True)
class PolicyConfig(training.Config):
    model: str = setting("alphago_policy", "registry name of the network",
                         choices=("alphago_policy",))
    data_dir: str | None = setting(None, "folder of shards from `kcnn go convert`")
    sgf_dir: str | None = setting(None, "SGF records (file, folder, zip or tar) converted "
                                        "into --data-dir when it holds no shards yet")
    planes: int = setting(48, "input planes: 48, or the first 4, 12 or 20 (Extended Data "
                              "Table 3)", choices=(4, 12, 20, 48))
    filters: int = setting(192, "k, filters per hidden layer (192; 128, 256, 384 in "
                                "Extended Data Table 3)", minimum=1)
    num_layers: int = setting(12, "hidden convolution layers (12)", minimum=2)
    epochs: int = setting(185, "185 passes over 29.4M positions at batch 16 are the "
                               "paper's 340M steps", minimum=1)
    batch_size: int = PRESETS["alphago"].batch_size
    lr: float | None = setting(None, "initial rate (default: 0.003 at batch 16, scaled "
                                     "linearly with --batch-size), halved every 80M steps",
                               minimum=0.0, exclusive_minimum=True)
    symmetries: bool = setting(True, "apply a random one of the 8 board symmetries to every "
                                     "position")
    ensemble: bool = setting(True, "also evaluate the 8-symmetry ensemble")
    shuffle_buffer: int = setting(20_000, "positions in the shuffle buffer", minimum=1)
    eval_batch_size: int = setting(256, "batch size of the test evaluation", minimum=1)
    test_fraction: float = setting(0.034, "share of games held out when --sgf-dir is "
                                          "converted (1/29.4)", minimum=0.0,
                                   exclusive_minimum=True, maximum=0.9)
    split_seed: int = setting(0, "seed of the train/test split by game", minimum=0)

    def check(self):
        if self.smoke:
            return
        if not self.data_dir:
            raise ValueError("the recipe needs converted shards: pass --data-dir SHARDS (made "
                             "by `kcnn go convert`), or --sgf-dir to convert SGF records into "
                             "--data-dir first. Received: data_dir=None")
        if self.sgf_dir is not None and not os.path.exists(self.sgf_dir):
            raise ValueError(f"The --sgf-dir {os.path.abspath(self.sgf_dir)} does not exist; "
                             "expected SGF records (a file, folder, zip or tar). "
                             f"Received: sgf_dir={self.sgf_dir!r}")
        has_shards = os.path.exists(os.path.join(self.data_dir, "metadata.json"))
        if self.sgf_dir is None and not has_shards:
            what = ("does not exist" if not os.path.exists(self.data_dir) else
                    "holds no metadata.json")
            raise ValueError(f"The --data-dir folder {os.path.abspath(self.data_dir)} {what}: "
                             "expected shards written by `kcnn go convert SGF_DIR "
                             "SHARDS_DIR` (or give --sgf-dir to convert records into it). "
                             f"Received: data_dir={self.data_dir!r}")


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


def compile_args(cfg, data):
    return classification.classifier_compile(num_classes=data.num_classes)


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
    config=PolicyConfig,
    data=data, model=model, preset="alphago", compile_args=compile_args, evaluate=evaluate,
    smoke={"epochs": 1, "steps_per_epoch": 2, "batch_size": 8, "filters": 8,
           "num_layers": 2, "eval_batch_size": 64},
)


def main(argv=None):
    return RECIPE.main(argv)


if __name__ == "__main__":
    sys.exit(main())
