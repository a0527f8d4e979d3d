"""A handler module that imports an extension module which cannot load in
own-GIL sub-interpreters (named by FA_TEST_UNLOADABLE: a single-phase-init
module such as _testsinglephase, or pydantic_core's PyO3 module)."""
import importlib
import os

_mod = importlib.import_module(os.environ["FA_TEST_UNLOADABLE"])


def handler(req, res):
    res['body'] = f"loaded {_mod.__name__}"
