import sys

from jean_memory.cli import main

sys.exit(main())
