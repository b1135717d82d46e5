import sys

from jean_memory.cli import main

if __name__ == "__main__":  # a spawned child process (the embedding model) imports this module too
    sys.exit(main())
