"""`python -m mlp ...`: the `mlp` command without its installed script."""

import sys

from mlp.cli import main

sys.exit(main())
