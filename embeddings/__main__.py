import sys

from .building.cli import main

sys.exit(main())
