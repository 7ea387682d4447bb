import sys

from kcnn.cli import main

sys.exit(main())
