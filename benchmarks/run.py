"""kcnn against keras.applications, from a source checkout (the same as ``kcnn bench``).

    python benchmarks/run.py --quick        # a few minutes
    python benchmarks/run.py                # the full table of benchmarks/README.md

Options are those of ``kcnn bench --help``; results go to ``benchmarks/results/`` unless
``--output`` says otherwise.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))


def main(argv=None):
    from kcnn.bench import cli_main

    argv = list(sys.argv[1:] if argv is None else argv)
    if not any(a == "--output" or a.startswith("--output=") for a in argv):
        argv += ["--output", os.path.join(HERE, "results")]
    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
