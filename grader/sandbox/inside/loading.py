"""Inside the sandbox: loading modules by path (the protocol, the probe library, the
probes) or from source (a pooled worker gets the student's source on its pipe)."""
import importlib.util
import sys


def load_module(name: str, path: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_probes(config: dict):
    """The assignment's probes, after the probe library they import as `grader.probekit`
    (shipped beside them; the grader package itself is not in the sandbox)."""
    import types

    package = types.ModuleType("grader")
    package.__path__ = []  # a package with nothing else in it
    sys.modules["grader"] = package
    package.probekit = load_module("grader.probekit", config["probekit"])
    return load_module("_grader_probes", config["probes"])


def module_from_source(name: str, path: str, source: str):
    """Import ``source`` as module ``name`` whose file is ``path`` (which need not exist:
    tracebacks and inspect read the lines through the loader)."""
    import importlib.abc

    class Loader(importlib.abc.SourceLoader):
        def get_filename(self, fullname):
            return path

        def get_data(self, data_path):
            return source.encode("utf-8")

    loader = Loader()
    spec = importlib.util.spec_from_loader(name, loader, origin=path)
    spec.has_location = True
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module
