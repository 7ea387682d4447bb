"""The end of a run: the curves plot, the one-screen summary and the Ctrl-C message."""

from __future__ import annotations

import os
import shlex
import sys

from kcnn._io import atomic_path

__all__ = ["interrupted", "plot_history", "resume_command", "summary_lines"]

LOAD_NOTE = "import kcnn first, or load with kcnn.load_model(path)"


def plot_history(rows, path, *, title=None):
    """Saves loss and accuracy curves (train and validation, per epoch) as a PNG.

    Args:
        rows: per-epoch dicts as in ``history.json``.
        path: PNG path.
        title: figure title.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in rows]
    keys = sorted({k for r in rows for k in r})
    acc_keys = [k for k in keys if k.endswith("accuracy") and not k.startswith("val_")]
    fig, axes = plt.subplots(1, 2 if acc_keys else 1, figsize=(10 if acc_keys else 5, 3.6),
                             squeeze=False)
    panels = [("loss", ["loss"])] + ([("accuracy", acc_keys)] if acc_keys else [])
    for ax, (label, keys) in zip(axes[0], panels):
        for i, key in enumerate(keys):
            for prefix, style in (("", "-"), ("val_", "--")):
                ys = [r.get(prefix + key) for r in rows]
                pts = [(e, v) for e, v in zip(epochs, ys) if v is not None]
                if pts:
                    ax.plot(*zip(*pts), style, marker="o", markersize=3, color=f"C{i}",
                            label=("validation " if prefix else "train ") + key)
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)


def summary_lines(metrics, *, run_dir):
    """The one-screen summary printed at the end of a run."""
    lines = ["", "=" * 64, f"{metrics.get('recipe', '')}: {metrics.get('model', '')}".strip(": ")]
    lines.append(f"  run folder      {run_dir}")
    lines.append(f"  epochs          {metrics.get('epochs_done')} of {metrics.get('epochs')}"
                 + (" (resumed)" if metrics.get("resumed") else ""))
    lines.append(f"  precision       {metrics.get('precision')}   strategy "
                 f"{metrics.get('strategy')} ({metrics.get('replicas')} replica(s))")
    if metrics.get("train_seconds") is not None:
        lines.append(f"  training time   {metrics['train_seconds']:.1f} s   "
                     f"{metrics.get('images_per_second', 0):.0f} images/s")
    lines.append(f"  test images     {metrics.get('test_examples')}"
                 + (f" ({metrics['eval_protocol']})" if metrics.get("eval_protocol") else ""))
    lines.append(f"  top-1 accuracy  {metrics['test_accuracy']:.4f}")
    if "test_top5_accuracy" in metrics:
        lines.append(f"  top-5 accuracy  {metrics['test_top5_accuracy']:.4f}")
    skipped = metrics.get("skipped_files") or []
    if skipped:
        lines.append(f"  skipped files   {len(skipped)} unreadable image(s), listed in "
                     "metrics.json")
    lines.append(f"  model           {metrics.get('model_path')}")
    lines.append(f"  loading it      {metrics.get('load_with') or LOAD_NOTE}")
    lines.append("=" * 64)
    return lines


def resume_command(argv=None):
    """The command line that resumes this process's run: ``sys.argv`` without
    ``--overwrite`` once training started (it would delete the run; before that, the old
    run it is to replace is still there), with ``--output`` made explicit."""
    argv = list(sys.argv if argv is None else argv)
    program, args = argv[0], argv[1:]
    base = os.path.basename(program)
    if base == "__main__.py":
        head = ["python", "-m", os.path.basename(os.path.dirname(program))]
    elif program.endswith(".py"):
        head = ["python", program]
    else:
        head = [base or "python"]
    from kcnn.training.rundir import active_run

    run = active_run()
    if run is not None and run.started:
        args = [a for a in args if a != "--overwrite"]
    if run is not None and not any(a == "--output" or a.startswith("--output=")
                                   for a in args):
        args += ["--output", run.shared_root]
    return shlex.join(head + args)


def interrupted(argv=None, *, stream=None):
    """Prints the one-line Ctrl-C message (what was saved, the command that resumes) and
    returns the exit code 130 (128 + SIGINT), as shells do."""
    from kcnn.training.rundir import active_run

    stream = stream or sys.stderr
    run = active_run()
    command = resume_command(argv)
    if run is None:
        print(f"\nInterrupted before the run folder was set up; nothing was saved. Run "
              f"again with: {command}", file=stream, flush=True)
        return 130
    epoch = run.last_saved_epoch()
    saved = (f"epoch {epoch} is the last finished one, saved in {run.shared_root}" if epoch
             else f"no epoch had finished yet (run folder {run.shared_root})")
    print(f"\nInterrupted: {saved}. Resume with: {command}", file=stream, flush=True)
    return 130


def run_notes():
    """What metrics.json adds for the reader: the image files left out as unreadable (see
    ``kcnn.data.folders``) and how to load ``model.keras`` (its kcnn layers need kcnn)."""
    from kcnn.data.folders import skipped_files
    from kcnn.training.rundir import active_run

    notes = {"skipped_files": skipped_files(clear=True), "load_with": LOAD_NOTE}
    run = active_run()
    if run is not None and os.path.exists(run.model_path):
        from kcnn.saving import kcnn_names

        names = kcnn_names(run.model_path)
        if names:
            shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
            notes["load_with"] = f"{LOAD_NOTE} (it holds {shown})"
        else:
            notes["load_with"] = "keras.saving.load_model(path) (plain Keras layers only)"
    return notes
