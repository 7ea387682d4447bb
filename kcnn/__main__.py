import sys

from kcnn.cli import main

__all__ = []

sys.exit(main())
