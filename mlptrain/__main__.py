"""``python -m mlptrain``: the same command line as the ``mlptrain`` console script."""

from mlptrain.cli import main

if __name__ == "__main__":
    main()
