"""Entry point of the programs that run inside the sandbox:
``python -I -B /runtime/inside CONFIG_JSON`` (see the package's docstring).

The folder is not an importable package there (``-I``: nothing of the grader is on the
path), so this registers it as the package ``_grader_inside`` from its own folder, takes
that folder off ``sys.path`` again (student code must not import these modules by name),
and runs :func:`_grader_inside.worker.main`.
"""
import importlib.util
import os
import sys


def _register_package(name: str) -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    if sys.path and os.path.abspath(sys.path[0]) == here:
        del sys.path[0]
    spec = importlib.util.spec_from_file_location(name, os.path.join(here, "__init__.py"),
                                                  submodule_search_locations=[here])
    package = importlib.util.module_from_spec(spec)
    sys.modules[name] = package
    spec.loader.exec_module(package)


if __name__ == "__main__":
    _register_package("_grader_inside")
    importlib.import_module("_grader_inside.worker").main(sys.argv)
