"""Results as Markdown tables, and the targets they are checked against.

Targets (measured as ratios in one run, round by round, medians):

- kcnn's training and inference throughput within 2% of keras.applications' for the same
  network and precision (``kcnn/keras >= 0.98``);
- ResNet-50 float32 training MFU at least keras.applications' (``>= 1``, within the spread);
- ``import kcnn`` adds less than 0.5 s to importing TensorFlow and Keras;
- building ResNet-152 takes no longer than keras.applications' ``ResNet152``
  (``kcnn/keras <= 1``, within the spread).
"""

from __future__ import annotations

__all__ = ["to_markdown", "check_targets", "PAR"]

PAR = 0.98  # "within 2%"


def _ratio(r):
    if not r:
        return "-"
    return f"{r['median']:.3f} [{r['min']:.3f}-{r['max']:.3f}]"


def _rate(s, digits=2):
    return "-" if not s else f"{s['median']:.{digits}f}"


def _pct(s):
    return "-" if not s else f"{100 * s['median']:.0f}%"


def _on_basis(row, key):
    value = row.get(key, {})
    return value.get(row.get("basis", "wall"), {}) if value else {}


def throughput_table(rows):
    lines = ["| network | precision | XLA | mode | kcnn img/s | keras img/s | "
             "kcnn/keras [min-max] | folded img/s | folded/keras | MFU kcnn | MFU keras |",
             "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        if "error" in row:
            lines.append(f"| {row['model']} | {row['precision']} | "
                         f"{'on' if row['jit_compile'] else 'off'} | {row.get('mode', '-')} | "
                         f"error: {row['error'][:60]} | | | | | | |")
            continue
        ips = row["images_per_second"]
        ratios = _on_basis(row, "ratios")
        mfu = _on_basis(row, "mfu")
        lines.append("| " + " | ".join([
            row["model"], row["precision"], "on" if row["jit_compile"] else "off",
            row["mode"], _rate(ips.get("kcnn")), _rate(ips.get("keras")),
            _ratio(ratios.get("kcnn/keras")), _rate(ips.get("kcnn_folded")),
            _ratio(ratios.get("kcnn_folded/keras")), _pct(mfu.get("kcnn")),
            _pct(mfu.get("keras"))]) + " |")
    return "\n".join(lines)


def choices_table(rows, precision_auto=None):
    """kcnn's network in each precision and XLA setting, against float32 without XLA."""
    lines = ["| network | mode | setting | img/s | rate / float32 [min-max] |",
             "|---|---|---|---:|---:|"]
    notes = []
    for row in rows:
        if "error" in row:
            lines.append(f"| {row['model']} | error: {row['error'][:80]} | | | |")
            continue
        ratios = _on_basis(row, "ratios")
        ips = row["images_per_second"]
        for key in ips:
            lines.append(f"| {row['model']} | {row['mode']} | {key} | {_rate(ips[key])} | "
                         + ("1" if key == row["reference"] else _ratio(ratios[key])) + " |")
        best = max(ips, key=lambda k: 1.0 if k == row["reference"]
                   else ratios[k]["median"])
        notes.append(f"{row['model']} {row['mode']}: fastest {best}")
    text = "\n".join(lines)
    if notes:
        text += ("\n\n" + "; ".join(notes) + "."
                 + (f" `--precision auto` picks {precision_auto} on this machine."
                    if precision_auto else ""))
    return text


def pipeline_table(rows):
    lines = ["| recipe | model | batch | pipeline img/s | fit (one batch in memory) img/s | "
             "fit (pipeline) img/s | pipeline / step | fit pipeline / constant |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        if "error" in row:
            lines.append(f"| {row['recipe']} | error: {row['error'][:80]} | | | | | | |")
            continue
        ips, ratios = row["images_per_second"], _on_basis(row, "ratios")
        lines.append("| " + " | ".join([
            row["recipe"], row["model"], str(row["batch_size"]), _rate(ips["pipeline"], 1),
            _rate(ips["fit_constant"], 1), _rate(ips["fit_pipeline"], 1),
            _ratio(ratios["pipeline/fit_constant"]),
            _ratio(ratios["fit_pipeline/fit_constant"])]) + " |")
    return "\n".join(lines)


GO_ROWS = (("kcnn_48_planes", "kcnn, 48 planes (replay + features)"),
           ("kcnn_20_planes", "kcnn, 20 planes (no move features)"),
           ("replay_only", "kcnn, replay only"),
           ("plain_python_48_planes", "plain Python flood fill, 48 planes"))


def go_table(g):
    """The Go benchmark's rates (``benchmarks/bench_go.py``: CPU time, one core)."""
    lines = [f"{g.get('source', '?')}: {g.get('games', '?')} games, "
             f"{g.get('positions', '?')} positions, one core (CPU time)", "",
             "| | positions/s |", "|---|---:|"]
    for key, label in GO_ROWS:
        if key in g:
            lines.append(f"| {label} | {g[key]['median']:,.0f} |")
    if "speedup_over_plain_python" in g:
        lines += ["", f"Speed-up over plain Python: {g['speedup_over_plain_python']:.0f}x."]
    return "\n".join(lines)


def check_targets(results):
    """``[(target, measured, met)]`` for the targets the results cover (module docstring);
    ``met`` is None where the spread straddles the line."""
    checks = []
    for row in results.get("throughput", []):
        ratios = _on_basis(row, "ratios")
        r = ratios.get("kcnn/keras")
        if r:
            met = True if r["median"] >= PAR else (None if r["max"] >= PAR else False)
            checks.append((f"{row['model']} {row['precision']} XLA "
                           f"{'on' if row['jit_compile'] else 'off'} {row['mode']}: "
                           f"kcnn/keras >= {PAR}", _ratio(r), met))
        if (row.get("model") == "resnet50" and row.get("precision") == "float32"
                and row.get("mode") == "train" and not row.get("jit_compile")
                and "mfu kcnn/keras" in ratios):
            m = ratios["mfu kcnn/keras"]
            mfu = _on_basis(row, "mfu")
            met = True if m["median"] >= 1 else (None if m["max"] >= 1 else False)
            checks.append(("resnet50 float32 training MFU kcnn >= keras "
                           f"({_pct(mfu['kcnn'])} vs {_pct(mfu['keras'])})", _ratio(m), met))
    imp = results.get("import")
    if imp and "kcnn_extra_seconds" in imp:
        key = "kcnn_extra_cpu_seconds" if imp.get("basis") == "cpu" else "kcnn_extra_seconds"
        extra = imp[key]["median"]
        checks.append(("import kcnn adds < 0.5 s to tensorflow + keras",
                       f"{extra:.3f} s ({'CPU' if 'cpu' in key else 'wall'})", extra < 0.5))
    build = results.get("build")
    if build and "ratio" in build:
        r = _on_basis(build, "ratio")
        met = True if r["median"] <= 1 else (None if r["min"] <= 1 else False)
        checks.append((f"build {build['model']}: kcnn/keras seconds <= 1", _ratio(r), met))
    go = results.get("go") or {}
    if "positions_per_second_per_core" in go:
        target = go.get("target_positions_per_second_per_core", 2000)
        rate = go["positions_per_second_per_core"]
        checks.append((f"Go features, 48 planes: >= {target:,} positions/s per core",
                       f"{rate:,.0f}", rate >= target))
    return checks


def to_markdown(results):
    """The whole report: machine, command, tables, targets."""
    m = results.get("machine", {})
    out = [f"Machine: {m.get('cpu', '?')}, {m.get('cores', '?')} cores"
           + (f", GPUs: {', '.join(g['name'] for g in m['gpus'])}" if m.get("gpus") else "")
           + f"; TensorFlow {m.get('tensorflow', '?')}, Keras {m.get('keras', '?')}; "
           f"--precision auto here: {m.get('precision_auto', '?')}.",
           "", f"Command: `{results.get('command', 'kcnn bench')}`", ""]
    s = results.get("settings", {})
    clock = "CPU time" if m.get("device", "cpu") == "cpu" else "wall time"
    if results.get("throughput"):
        out += ["### Throughput (batch "
                f"{s.get('batch_size')}, {s.get('image_size')}x{s.get('image_size')}, "
                f"{s.get('repeats')} interleaved rounds)", "",
                throughput_table(results["throughput"]), "",
                "img/s: median wall-clock images per second. Ratios: medians of the "
                f"round-by-round ratios of {clock} rates [min-max]. MFU = images/s x 6 x "
                "multiply-adds per image (kcnn.summary; 2 FLOPs per multiply-add, training = "
                "3 x forward) / dense matmul FLOP/s timed in the same rounds in the compute "
                f"dtype, both on {clock}; folded = kcnn.inference.optimize_for_inference.", ""]
    if results.get("choices"):
        out += ["### Precision and XLA (kcnn alone, every setting in the same rounds; ratios "
                f"of {clock} rates)", "",
                choices_table(results["choices"], m.get("precision_auto")), ""]
    if results.get("import") or results.get("build"):
        out += ["### Start-up", ""]
    if results.get("import"):
        imp = results["import"]
        if "error" in imp:
            out += [f"- import: error {imp['error']}"]
        else:
            wall, cpu = imp["kcnn_extra_seconds"], imp["kcnn_extra_cpu_seconds"]
            out += ["- `import tensorflow, keras`: "
                    f"{imp['tensorflow_keras_seconds']['median']:.2f} s wall, "
                    f"{imp['tensorflow_keras_cpu_seconds']['median']:.2f} s CPU; then "
                    f"`import kcnn`: {wall['median']:.3f} s wall (max {wall['max']:.3f}), "
                    f"{cpu['median']:.3f} s CPU (max {cpu['max']:.3f}); medians of "
                    f"{wall['n']} fresh processes"]
    if results.get("build"):
        b = results["build"]
        if "error" in b:
            out += [f"- build: error {b['error']}"]
        else:
            out += [f"- build {b['model']}: kcnn {b['kcnn_seconds']['median']:.2f} s, "
                    f"keras.applications {b['keras_seconds']['median']:.2f} s (wall), "
                    f"kcnn/keras {_ratio(_on_basis(b, 'ratio'))} ({clock})"]
    if results.get("import") or results.get("build"):
        out.append("")
    if results.get("pipeline"):
        out += ["### Input pipelines (one epoch per round)", "",
                pipeline_table(results["pipeline"]), ""]
    if results.get("go"):
        g = results["go"]
        out += ["### Go feature extraction", ""]
        if "error" in g:
            out += [f"error: {g['error']}", ""]
        elif "positions_per_second_per_core" in g:
            out += [go_table(g), ""]
        else:
            out += ["```json", _short_json(g), "```", ""]
    checks = check_targets(results)
    if checks:
        out += ["### Targets", "", "| target | measured | met |", "|---|---|---|"]
        for target, measured, met in checks:
            out.append(f"| {target} | {measured} | "
                       f"{'yes' if met else ('within noise' if met is None else 'no')} |")
        out.append("")
    return "\n".join(out)


def _short_json(value):
    import json

    text = json.dumps(value, indent=1, default=str)
    return text if len(text) < 4000 else text[:4000] + "\n..."
