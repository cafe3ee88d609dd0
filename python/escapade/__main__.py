"""``python -m escapade ARGS``: the escapade command line, the same one as the ``escapade``
command that ``pip install`` puts on the PATH (the library's own, compiled into the extension:
``python -m escapade run --objective octopus --backend cpu --out out``, ``list``, ``report DIR``
...). It exits with the command's status: 0, 2 for bad input, 1 for a failed run, 130 when
interrupted."""

import sys

from . import _escapade


def main() -> None:
    """The ``escapade`` command's entry point: runs ``sys.argv[1:]`` and exits with its status."""
    # The program's name is the installed command's, so that messages pointing at
    # `escapade SUB --help` name a command that exists.
    sys.exit(_escapade.cli(["escapade", *sys.argv[1:]]))


if __name__ == "__main__":
    main()
