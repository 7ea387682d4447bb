"""``kcnn go``: Go data commands.

    kcnn go convert SGF_DIR OUT_DIR [--board-size 19] [--planes 49] [--test-fraction F]
                                    [--seed 0] [--shard-size N] [--workers N] [--quiet]
                                    [--overwrite]
"""

from __future__ import annotations

import argparse
import sys
import warnings

__all__ = ["main"]


def _parser():
    parser = argparse.ArgumentParser(prog="kcnn go", description="Go game records and the "
                                     "AlphaGo feature planes.")
    sub = parser.add_subparsers(dest="command", required=True)
    conv = sub.add_parser("convert", help="turn SGF records into training shards",
                          description="Replays every game in SGF_DIR (an .sgf file, a folder "
                          "or a zip/tar archive), computes the feature planes of every "
                          "position before a move and writes train/test shards to OUT_DIR, "
                          "split by game. Broken or illegal records are skipped with a "
                          "warning.")
    conv.add_argument("source", metavar="SGF_DIR")
    conv.add_argument("out_dir", metavar="OUT_DIR")
    conv.add_argument("--board-size", type=int, default=19)
    conv.add_argument("--planes", default="49",
                      help="planes stored per position: 49 (default), 48, or a subset")
    conv.add_argument("--test-fraction", type=float, default=0.034,
                      help="share of games held out (default 0.034, the paper's 1/29.4)")
    conv.add_argument("--seed", type=int, default=0, help="seed of the train/test split")
    conv.add_argument("--shard-size", type=int, default=100_000, help="positions per file")
    conv.add_argument("--workers", type=int, default=None,
                      help="processes (default: all cores)")
    conv.add_argument("--quiet", action="store_true", help="no progress bar")
    conv.add_argument("--overwrite", action="store_true",
                      help="replace an existing conversion in OUT_DIR")
    return parser


def main(argv=None):
    """Runs ``kcnn go`` with the arguments after ``go``; returns the exit code."""
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "convert":
        from kcnn._io import FolderBusyError
        from kcnn.go.convert import EmptySplitWarning, convert
        from kcnn.go.sgf import SgfWarning

        planes = int(args.planes) if args.planes.isdigit() else args.planes
        try:
            with warnings.catch_warnings():
                # the progress bar already prints each skipped record on its own line
                warnings.simplefilter("ignore" if not args.quiet else "default", SgfWarning)
                warnings.simplefilter("ignore", EmptySplitWarning)  # printed below
                meta = convert(args.source, args.out_dir, board_size=args.board_size,
                               planes=planes, test_fraction=args.test_fraction,
                               seed=args.seed, shard_size=args.shard_size,
                               workers=args.workers, progress=not args.quiet,
                               overwrite=args.overwrite)
        except (ValueError, TypeError, FileNotFoundError, FileExistsError,
                FolderBusyError) as e:
            print(f"kcnn go convert: error: {e}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print(f"\nkcnn go convert: interrupted; {args.out_dir} holds no finished "
                  "conversion (run the command again to convert from the start).",
                  file=sys.stderr)
            return 130
        train, test = meta["splits"]["train"], meta["splits"]["test"]
        print(f"{train['games'] + test['games']} games, {len(meta['skipped'])} skipped; "
              f"train: {train['positions']} positions from {train['games']} games, "
              f"test: {test['positions']} positions from {test['games']} games -> "
              f"{args.out_dir}")
        for note in meta.get("warnings", []):
            print(f"kcnn go convert: warning: {note}", file=sys.stderr)
        return 0
    return 2  # pragma: no cover  (argparse requires a command)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
