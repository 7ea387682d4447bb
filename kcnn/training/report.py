"""The end of a run: the curves plot and the one-screen summary."""

from __future__ import annotations


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
    fig.savefig(path, dpi=100)
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
    lines.append(f"  model           {metrics.get('model_path')}")
    lines.append("=" * 64)
    return lines
