"""Runs inside every worker sub-interpreter at start.

The native server creates one own-GIL interpreter per pinned worker (and per
pooled interpreter).  Each imports this module and calls load_handlers() to
import its own copy of the application's handlers: Python objects never
cross interpreters, only their import paths do.
"""
import importlib
import importlib.util
import sys

# multiprocessing's spawn start method uses the same alias: the main script
# runs again under a name other than "__main__", so its
# `if __name__ == "__main__":` block stays quiet.
MAIN_ALIAS = "__mp_main__"


class Headers(dict):
    """Request headers with case-insensitive lookup.

    Names are stored lowercase; lookups lowercase the key first.
    """

    __slots__ = ()

    def __getitem__(self, key):
        return dict.__getitem__(self, key.lower())

    def __contains__(self, key):
        return isinstance(key, str) and dict.__contains__(self, key.lower())

    def get(self, key, default=None):
        return dict.get(self, key.lower(), default)


def _load_main(path):
    mod = sys.modules.get(MAIN_ALIAS)
    if mod is not None:
        return mod
    if path is None:
        raise ImportError(
            "a handler lives in __main__, but the main module has no file to "
            "import again in worker interpreters; define handlers in a script "
            "or an importable module"
        )
    spec = importlib.util.spec_from_file_location(MAIN_ALIAS, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import the main script {path!r} in a worker interpreter")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[MAIN_ALIAS] = mod
    try:
        spec.loader.exec_module(mod)
    except BaseException:
        del sys.modules[MAIN_ALIAS]
        raise
    return mod


def load_handlers(main_path, refs):
    """Imports each (module, qualname) pair and returns the objects, in order."""
    out = []
    for module, qualname in refs:
        if module == "__main__":
            mod = _load_main(main_path)
        else:
            mod = importlib.import_module(module)
        obj = mod
        for part in qualname.split("."):
            obj = getattr(obj, part)
        out.append(obj)
    return out
