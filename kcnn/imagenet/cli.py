"""``kcnn predict``, ``kcnn evaluate`` and ``kcnn weights`` (list, fetch, convert).

- ``kcnn predict IMAGE... --model NAME [--weights imagenet|SOURCE|PATH]`` prints the top-5
  ImageNet classes of each image, read and preprocessed as the checkpoint's publisher did.
- ``kcnn evaluate VAL_DIR --model NAME [--weights ...]`` measures top-1/top-5 on an ImageNet
  validation folder (``kcnn.imagenet.evaluate``), beside the publisher's figures.
- ``kcnn weights list [MODEL]`` shows the published checkpoints; ``kcnn weights fetch MODEL
  [--weights SOURCE]`` downloads one into the cache; ``kcnn weights convert SRC --model NAME
  [--source S] [--set key=value] --output OUT.weights.h5`` converts a downloaded file once,
  offline, into kcnn's own format.
"""

from __future__ import annotations

import argparse
import ast
import sys

__all__ = ["predict_main", "evaluate_main", "weights_main"]


def _kwargs(pairs, prog):
    kwargs = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"{prog}: --set expects key=value. Received: {pair!r}")
        try:
            kwargs[key.replace("-", "_")] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            kwargs[key.replace("-", "_")] = value
    return kwargs


def _model_args(p, *, weights_help):
    p.add_argument("--model", required=True, help="registered network, e.g. resnet50")
    p.add_argument("--weights", default="imagenet", help=weights_help)
    p.add_argument("--source", default=None,
                   help="for a weights file: the source it came from (keras, torchvision_v1, "
                        "torchvision_v2, bvlc, msra, vgg_caffe), giving its variant and "
                        "preprocessing")
    p.add_argument("--preprocessing", default=None,
                   help="a source name or a kcnn.preprocessing mode; default: the "
                        "checkpoint's own")
    p.add_argument("--mean-image", default=None,
                   help="Caffe mean image (.npy) for the caffe modes (BVLC AlexNet)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="other builder arguments, e.g. --set stride_in_3x3=True")
    p.add_argument("--batch-size", type=int, default=16)


WEIGHTS_HELP = "imagenet (default), a source name, or a checkpoint file"


def _pipeline(args, prog):
    """Model, evaluation transform, preprocessing layer and source for the arguments (the
    preprocessing is settled before the model is built or downloaded)."""
    from kcnn import preprocessing
    from kcnn.imagenet.images import transform_for
    from kcnn.imagenet.pretrained import build_pretrained, is_path, source_of
    from kcnn.weights.sources import sources_for

    if args.source is not None and not is_path(args.weights):
        raise ValueError(f"--source applies to a weights file; --weights {args.weights} "
                         f"already names a source. Received: source={args.source!r}")
    source = source_of(args.model, args.weights, args.source)
    choice = args.preprocessing
    if choice is None:
        choice = source or ("imagenet" if sources_for(args.model) else None)
    if isinstance(choice, str) and choice in preprocessing.MODES:
        layer = preprocessing.Preprocessing(choice, mean_image=args.mean_image)
        chosen = None
    else:
        layer = preprocessing.for_model(args.model, weights=choice, mean_image=args.mean_image)
        chosen = choice
    model, source = build_pretrained(args.model, args.weights, source=args.source,
                                     **_kwargs(args.set, prog))
    transform = transform_for(args.model, chosen, crop_size=model.input_shape[1])
    return model, transform, layer, source


def _fail(prog, error):
    print(f"{prog}: {error}", file=sys.stderr)
    return 2


def predict_main(argv=None):
    """Entry point of ``kcnn predict``; returns the exit code."""
    prog = "kcnn predict"
    p = argparse.ArgumentParser(prog=prog, description="Top ImageNet classes of images.")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    _model_args(p, weights_help=WEIGHTS_HELP)
    p.add_argument("--top", type=int, default=5)
    args = p.parse_args(argv)
    from kcnn.imagenet import decode_predictions
    from kcnn.imagenet.evaluate import predict_files

    try:
        model, transform, layer, source = _pipeline(args, prog)
    except (ValueError, TypeError, OSError) as e:
        return _fail(prog, e)
    if model.output_shape[-1] != 1000:
        return _fail(prog, f"--model {args.model} predicts {model.output_shape[-1]} classes; "
                           "ImageNet predictions need 1000")
    print(f"# {args.model}, weights {args.weights}"
          + (f" ({source.origin} {source.name})" if source else "")
          + f", preprocessing {layer.mode}, resize {transform.resize_size} "
            f"crop {transform.crop_size}")
    scores, read, skipped = predict_files(model, args.images, transform, layer,
                                          batch_size=args.batch_size)
    if len(read):
        for path, row in zip(read, decode_predictions(scores, top=args.top)):
            print(path)
            for rank, (wnid, name, score) in enumerate(row, 1):
                print(f"  {rank}. {wnid} {name:30s} {score:.4f}")
    for path, reason in skipped:
        print(f"skipped: {reason}", file=sys.stderr)
    if skipped:
        print(f"{len(skipped)} of {len(args.images)} images skipped", file=sys.stderr)
    return 0 if read else 1


def evaluate_main(argv=None):
    """Entry point of ``kcnn evaluate``; returns the exit code."""
    prog = "kcnn evaluate"
    p = argparse.ArgumentParser(
        prog=prog, description="Top-1/top-5 accuracy on an ImageNet validation folder "
                               "(sub-folders named by WordNet id, or flat with --labels).")
    p.add_argument("data_dir", metavar="VAL_DIR")
    _model_args(p, weights_help=WEIGHTS_HELP)
    p.add_argument("--labels", default=None,
                   help="for a flat folder: one WordNet id (or class index 0-999 in sorted "
                        "WordNet-id order, not the devkit's ILSVRC2012_ID) per line, in "
                        "sorted file-name order")
    p.add_argument("--limit", type=int, default=None,
                   help="first N images of each class folder (of the flat folder)")
    p.add_argument("--output", default=None, help="also write the result as JSON here")
    args = p.parse_args(argv)
    from kcnn.imagenet.evaluate import evaluate_files, labelled_files

    try:
        paths, classes = labelled_files(args.data_dir, labels=args.labels, limit=args.limit)
        model, transform, layer, source = _pipeline(args, prog)
        result = evaluate_files(model, paths, classes, transform, layer,
                                batch_size=args.batch_size)
    except (ValueError, TypeError, OSError) as e:
        return _fail(prog, e)
    result.update(model=args.model, weights=args.weights, preprocessing=layer.mode,
                  resize_size=transform.resize_size, crop_size=transform.crop_size)
    line = (f"{args.model} ({args.weights}): top-1 {100 * result['top1']:.2f}%  "
            f"top-5 {100 * result['top5']:.2f}% on {result['images']} images of "
            f"{result['classes']} classes")
    if result["skipped"]:
        line += f" ({result['skipped']} skipped)"
    print(line)
    if source is not None and source.top1 is not None:
        result.update(published_top1=source.top1, published_top5=source.top5)
        print(f"published by {source.origin}: top-1 {source.top1}%  top-5 {source.top5}% "
              f"({source.notes.split(';')[0]})")
    if args.output:
        from kcnn._io import atomic_json

        atomic_json(args.output, dict(result), indent=2)
    return 0


def _percent(value):
    return "-" if value is None else f"{value:.1f}" if round(value, 1) == value else f"{value:g}"


def _list(args):
    import kcnn
    from kcnn.weights.download import cache_folder
    from kcnn.weights.sources import SOURCES, models_with_sources, source_names

    names = [kcnn.get_spec(args.model).name] if args.model else models_with_sources()
    rows = [("network", "weights=", "origin", "variant", "top-1", "top-5", "MB", "default")]
    for s in SOURCES:
        if s.model in names:
            variant = ", ".join(f"{k}={v}" for k, v in s.variant.items()) or "-"
            rows.append((s.model, s.name, s.origin, variant,
                         _percent(s.top1), _percent(s.top5),
                         "-" if s.size_bytes is None else f"{s.size_bytes / 2**20:.0f}",
                         "imagenet" if s.default else ""))
    rows[1:] = sorted(rows[1:], key=lambda r: names.index(r[0]))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    if args.model:
        for s in SOURCES:
            if s.model == names[0]:
                checksum = (f"{s.hash_algorithm} {s.file_hash}" if s.file_hash
                            else "none published")
                print(f"\n{s.name}: {s.url or 'no download URL: ' + s.file_name}\n"
                      f"  checksum {checksum}; format {s.format}; preprocessing "
                      f"{s.preprocessing}, resize {s.resize_size} crop {s.crop_size}\n"
                      f"  licence: {s.license}\n  {s.notes}")
        print(f"\nweights= accepts: {', '.join(source_names(args.model))}, or a file path")
    print(f"Accuracies are the publishers' figures. Cache folder: {cache_folder()}")
    return 0


def _fetch(args):
    from kcnn.weights.download import fetch
    from kcnn.weights.sources import resolve

    source = resolve(args.model, args.weights)
    print(fetch(source, include_top=not args.no_top))
    return 0


def _convert(args):
    from kcnn.imagenet.pretrained import convert

    kwargs = _kwargs(args.set, "kcnn weights convert")
    convert(args.src, args.model, args.output, source=args.source, overwrite=args.overwrite,
            **kwargs)
    print(f"wrote {args.output}")
    return 0


def weights_main(argv=None):
    """Entry point of ``kcnn weights``; returns the exit code."""
    prog = "kcnn weights"
    p = argparse.ArgumentParser(prog=prog, description="Published ImageNet weights.")
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    q = sub.add_parser("list", help="published checkpoints and their figures")
    q.add_argument("model", nargs="?", default=None)
    q.set_defaults(func=_list)
    q = sub.add_parser("fetch", help="download a checkpoint into the cache folder")
    q.add_argument("model")
    q.add_argument("--weights", default="imagenet", help="imagenet or a source name")
    q.add_argument("--no-top", action="store_true",
                   help="keras.applications' smaller file without the classifier")
    q.set_defaults(func=_fetch)
    q = sub.add_parser("convert", help="convert a downloaded checkpoint to .weights.h5")
    q.add_argument("src", metavar="SRC")
    q.add_argument("--model", required=True)
    q.add_argument("--source", default=None,
                   help="the source SRC came from (keras, torchvision_v1, ...): its variant")
    q.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="builder arguments, e.g. --set stride_in_3x3=True")
    q.add_argument("--output", required=True, metavar="OUT.weights.h5")
    q.add_argument("--overwrite", action="store_true")
    q.set_defaults(func=_convert)
    args = p.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError, OSError) as e:
        return _fail(f"{prog} {args.action}", e)


if __name__ == "__main__":
    sys.exit(weights_main())
