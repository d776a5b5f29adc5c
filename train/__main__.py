"""`python -m train`: the command line is train/cli.py (also the `recipe-train` command)."""

import sys

from .cli import main

sys.exit(main())
