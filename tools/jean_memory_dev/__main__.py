import sys

from jean_memory_dev.cli import main

if __name__ == "__main__":
    sys.exit(main())
