"""The benchmark machinery on tiny models: interleaved timing, ratios, MFU, tables, the
command line. No timing assertions: speed is measured by ``kcnn bench``, not tested."""

import json
import os
import statistics
import textwrap

import keras
import pytest

import kcnn
from kcnn.bench import cli_main, go, pipeline, report, throughput, timing


class FakeClock:
    """A clock that advances by the cost of each contestant's call."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_interleaved_rotates_order_excludes_warmup_and_divides_items_by_time():
    clock = FakeClock()
    calls = []

    def contestant(name, seconds, items):
        def run():
            calls.append(name)
            clock.now += seconds
            return items
        return run

    rates = timing.interleaved({"a": contestant("a", 2.0, 10), "b": contestant("b", 0.5, 1),
                                "c": contestant("c", 1.0, None)},
                               repeats=4, warmup=2, clocks={"fake": clock})
    assert rates == {"fake": {"a": [5.0] * 4, "b": [2.0] * 4, "c": [1.0] * 4}}
    rounds = [calls[i:i + 3] for i in range(0, len(calls), 3)]
    assert len(rounds) == 6 and all(sorted(r) == ["a", "b", "c"] for r in rounds)
    # No contestant always goes first, and the neighbour order changes too.
    assert {r[0] for r in rounds} == {"a", "b", "c"}
    assert len({tuple(r) for r in rounds}) > 3


def test_paired_ratio_is_the_median_of_round_by_round_ratios():
    a, b = [10.0, 12.0, 3.0, 11.0], [5.0, 4.0, 3.0, 10.0]
    r = timing.paired_ratio(a, b)
    per_round = [2.0, 3.0, 1.0, 1.1]
    assert r["median"] == pytest.approx(statistics.median(per_round))
    assert (r["min"], r["max"], r["n"]) == (1.0, 3.0, 4)
    assert r["best"] == pytest.approx(12.0 / 10.0)
    assert r["spread"] == pytest.approx((3.0 - 1.0) / statistics.median(per_round))
    with pytest.raises(ValueError, match="same number of rounds"):
        timing.paired_ratio([1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="repeats"):
        timing.interleaved({"a": lambda: 1}, repeats=0)


def _tiny_pair():
    """kcnn's basic-block ResNet on 32x32 images and a plain Keras network of the same
    size, standing in for a network and its keras.applications peer."""
    def kcnn_model():
        return kcnn.build("resnet18", input_shape=(32, 32, 3), num_classes=1000,
                          stackwise_num_filters=(4, 4, 8, 8), stackwise_num_blocks=(1, 1, 1, 1))

    def keras_model():
        inputs = keras.Input((32, 32, 3))
        x = keras.layers.Conv2D(8, 3, strides=2, padding="same")(inputs)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.GlobalAveragePooling2D()(x)
        return keras.Model(inputs, keras.layers.Dense(1000, activation="softmax")(x))

    return {"kcnn": kcnn_model, "keras": keras_model}


def test_throughput_rows_report_rates_ratios_and_mfu():
    rows = throughput.measure("tiny", modes=("train", "infer"), batch_size=2, image_size=32,
                              steps=1, repeats=2, warmup=1, builders=_tiny_pair(),
                              matmul_size=64, log=None)
    train, infer = rows
    assert (train["mode"], infer["mode"]) == ("train", "infer")
    assert set(train["images_per_second"]) == {"kcnn", "keras"}
    assert set(infer["images_per_second"]) == {"kcnn", "keras", "kcnn_folded"}
    assert train["basis"] == "cpu"  # no GPU here: compared on CPU time
    for clock in ("wall", "cpu"):
        assert set(infer["ratios"][clock]) == {"kcnn/keras", "kcnn_folded/keras",
                                               "kcnn_folded/kcnn"}
        assert set(train["ratios"][clock]) == {"kcnn/keras", "mfu kcnn/keras"}
    for row in rows:
        for key in ("images_per_second", "images_per_cpu_second"):
            for stats in row[key].values():
                assert stats["n"] == 2 and 0 < stats["min"] <= stats["median"] <= stats["max"]
    # Multiply-adds: kcnn.summary's count; MFU = images/s x 6 x MACs / matmul FLOP/s.
    macs = kcnn.summary(_tiny_pair()["kcnn"]()).totals["flops"]
    assert train["multiply_adds"]["kcnn"] == macs
    ips, mm = train["images_per_second"]["kcnn"], train["matmul_flops_per_second"]
    assert train["mfu"]["wall"]["kcnn"]["min"] <= 6 * macs * ips["max"] / mm["min"]
    assert train["mfu"]["wall"]["kcnn"]["max"] >= 6 * macs * ips["min"] / mm["max"]
    # The graphs: kcnn's bias-free convolution against the peer's biased one.
    assert train["graph_ops"]["total"]["kcnn"] > 0
    assert infer["graph_ops"]["differences"]["BiasAdd"]["keras"] >= 1
    assert infer["graph_ops"]["total"]["kcnn_folded"] < infer["graph_ops"]["total"]["kcnn"]
    assert keras.mixed_precision.dtype_policy().name == "float32"  # restored


def test_throughput_under_mixed_precision_restores_the_policy():
    rows = throughput.measure("tiny", precision="mixed_bfloat16", modes=("infer",),
                              batch_size=2, image_size=32, steps=1, repeats=1, warmup=0,
                              builders=_tiny_pair(), log=None)
    assert rows[0]["precision"] == "mixed_bfloat16"
    assert keras.mixed_precision.dtype_policy().name == "float32"


def test_choices_compare_kcnn_settings_against_float32():
    rows = throughput.measure_choices("tiny", precisions=("float32", "mixed_bfloat16"),
                                      jit=(False,), modes=("infer",), batch_size=2,
                                      image_size=32, repeats=2, warmup=0,
                                      builder=_tiny_pair()["kcnn"], log=None)
    row = rows[0]
    assert row["reference"] == "float32"
    assert set(row["images_per_second"]) == {"float32", "mixed_bfloat16"}
    assert set(row["ratios"]["cpu"]) == {"mixed_bfloat16"}
    text = report.choices_table(rows, "float32")
    assert "| tiny | infer | float32 |" in text and "picks float32" in text
    assert keras.mixed_precision.dtype_policy().name == "float32"


def test_report_table_and_targets():
    def stats(m, lo=None, hi=None):
        return {"median": m, "min": lo or m, "max": hi or m, "spread": 0.0, "n": 3}

    results = {
        "machine": {"cpu": "Test CPU", "cores": 2, "precision_auto": "float32"},
        "command": "kcnn bench --quick",
        "settings": {"batch_size": 8, "image_size": 224, "repeats": 3},
        "throughput": [
            {"model": "resnet50", "precision": "float32", "jit_compile": False,
             "mode": "train", "basis": "cpu",
             "images_per_second": {"kcnn": stats(10.0), "keras": stats(9.0)},
             "ratios": {"cpu": {"kcnn/keras": stats(1.11, 1.0, 1.2),
                                "mfu kcnn/keras": stats(1.11, 1.0, 1.2)},
                        "wall": {"kcnn/keras": stats(0.5)}},
             "mfu": {"cpu": {"kcnn": stats(0.6), "keras": stats(0.54)}}},
            {"model": "vgg16", "precision": "float32", "jit_compile": True, "mode": "infer",
             "basis": "cpu", "images_per_second": {"kcnn": stats(1.0), "keras": stats(1.1)},
             "ratios": {"cpu": {"kcnn/keras": stats(0.9, 0.85, 0.95)}}},
            {"model": "vgg16", "precision": "mixed_float16", "jit_compile": False,
             "error": "ResourceExhaustedError: out of memory"},
        ],
        "import": {"tensorflow_keras_seconds": stats(5.0), "kcnn_extra_seconds": stats(0.7),
                   "tensorflow_keras_cpu_seconds": stats(4.0),
                   "kcnn_extra_cpu_seconds": stats(0.1), "basis": "cpu"},
        "build": {"model": "resnet152", "kcnn_seconds": stats(4.0), "keras_seconds": stats(5.0),
                  "basis": "cpu", "ratio": {"cpu": stats(0.97, 0.9, 1.05)}},
    }
    text = report.to_markdown(results)
    assert "Test CPU, 2 cores" in text and "kcnn bench --quick" in text
    assert "| resnet50 | float32 | off | train | 10.00 | 9.00 | 1.110 [1.000-1.200] |" in text
    assert "60%" in text and "54%" in text and "error: ResourceExhaustedError" in text
    met = {target.split(":")[0]: ok for target, _, ok in report.check_targets(results)}
    assert met["resnet50 float32 XLA off train"] is True
    assert met["vgg16 float32 XLA on infer"] is False
    assert met["import kcnn adds < 0.5 s to tensorflow + keras"] is True
    assert met["build resnet152"] is True


def test_pipeline_measures_the_recipe_pipeline_against_its_step():
    rows = pipeline.measure(["lenet5_digits"], repeats=1, warmup=0, log=None)
    row = rows[0]
    assert row["recipe"] == "lenet5_digits" and row["images_per_epoch"] == 1437
    assert set(row["images_per_second"]) == {"pipeline", "fit_constant", "fit_pipeline"}
    assert set(row["ratios"]["cpu"]) == {"pipeline/fit_constant", "fit_pipeline/fit_constant"}


def test_generated_jpeg_folder_reads_as_an_image_folder(tmp_path):
    import tensorflow as tf

    pipeline.write_jpeg_folder(str(tmp_path), images_per_class=2, classes=3, size=(30, 40))
    files = sorted((tmp_path / "train").rglob("*.jpg"))
    assert len(files) == 6 and len(list((tmp_path / "val").rglob("*.jpg"))) == 3
    image = tf.io.decode_jpeg(files[0].read_bytes())
    assert tuple(image.shape) == (30, 40, 3)
    assert 20 < float(tf.reduce_mean(tf.cast(image, tf.float32))) < 235


def test_go_benchmark_json_is_included(tmp_path, monkeypatch):
    """``benchmarks/bench_go.py --json PATH`` is run in its own process."""
    folder = tmp_path / "benchmarks"
    folder.mkdir()
    (folder / "bench_go.py").write_text(textwrap.dedent("""
        import json, sys
        args = sys.argv[1:]
        path = args[args.index("--json") + 1]
        json.dump({"positions_per_second": 123.0, "quick": "--quick" in args}, open(path, "w"))
    """))
    monkeypatch.chdir(tmp_path)
    assert go.measure(quick=True, log=None) == {"positions_per_second": 123.0, "quick": True}
    (folder / "bench_go.py").write_text("import sys; sys.exit(3)\n")
    assert "exited with 3" in go.measure(log=None)["error"]


def test_cli_writes_json_and_markdown(tmp_path, capsys):
    out = tmp_path / "results"
    code = cli_main(["--quick", "--sections", "import", "--import-repeats", "1",
                     "--output", str(out)])
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    assert results["machine"]["cores"] == os.cpu_count()
    assert results["machine"]["precision_auto"] in ("float32", "mixed_float16",
                                                    "mixed_bfloat16")
    assert results["import"]["kcnn_extra_seconds"]["n"] == 1
    assert "import kcnn" in (out / "results.md").read_text()
    assert "results.json" in capsys.readouterr().out


def test_cli_rejects_networks_without_a_peer(capsys):
    assert cli_main(["--models", "resnet18", "--output", os.devnull]) == 2
    assert "Received: models=['resnet18']" in capsys.readouterr().err


def test_precision_auto_is_float32_on_a_cpu_only_machine():
    import tensorflow as tf

    from kcnn.training import resolve_precision

    if tf.config.list_physical_devices("GPU"):
        pytest.skip("a GPU is present")
    assert resolve_precision("auto") == "float32"


def test_kcnn_bench_command_is_wired(capsys):
    from kcnn import cli

    assert cli.DELEGATED["bench"][:2] == ("kcnn.bench", "cli_main")
    with pytest.raises(SystemExit):
        cli.main(["bench", "--help"])
    assert "--quick" in capsys.readouterr().out


def test_resume_keeps_measured_groups_and_skips_the_one_that_ended_the_process(tmp_path):
    from kcnn import bench

    settings = {**bench.QUICK, "sections": ["throughput"], "quick": True, "fold": True,
                "jit": ["off", "on"]}
    measured = {"model": "resnet50", "precision": "float32", "jit_compile": False,
                "mode": "train", "images_per_second": {}, "ratios": {}}
    previous = {"command": "kcnn bench --quick", "settings": settings,
                "throughput": [measured],
                "in_progress": "throughput resnet50 float32 jit=on"}
    results = bench.run(settings, output=str(tmp_path), previous=previous, log=None)
    assert results["throughput"][0] == measured
    assert "process ended while measuring" in results["throughput"][1]["error"]
    assert results["command"] == "kcnn bench --quick" and len(results["resumed"]) == 1
    assert "in_progress" not in json.loads((tmp_path / "results.json").read_text())
    with pytest.raises(ValueError, match="--resume"):
        bench.run({**settings, "batch_size": 99}, previous=previous, log=None)


def test_isolated_measurement_failure_is_reported_not_raised_through():
    from kcnn.bench import runner

    with pytest.raises(RuntimeError, match="exited with 1.*no_such_function"):
        runner._isolated("no_such_function", {})
