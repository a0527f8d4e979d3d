"""The differential harness: one app module written against ``fastapi``,
loaded twice (as written, and with its imports switched to ``fasterapi``),
the same requests sent through both frameworks' TestClients, and what came
back compared.

FastAPI itself (pinned in scripts/bootstrap.sh) is the oracle: a case
passes when FasterAPI answers every request as FastAPI does (status,
headers but ``date``/``server``, body, and the OpenAPI document as parsed
JSON) and warns the same way while the module is imported.

A case module (cases/*.py) is an ordinary FastAPI app plus one of:

* ``REQUESTS``: a list of ``(method, url)`` or ``(method, url, {keywords
  for client.request})``, sent in order through one
  ``TestClient(app)`` opened with ``with`` (so lifespan runs);
* ``def scenario(observe)``: free-form steps with the case's own
  ``TestClient`` (imported by the case from ``fastapi.testclient``, hence
  switched too); it returns a list of observations, ``observe(response)``
  normalizes a response, anything JSON-like may be added.

``OPENAPI = False`` skips the document (a case that has none).
"""
import importlib.util
import json
import re
import sys
import types
import warnings
from pathlib import Path

CASES_DIR = Path(__file__).resolve().parent / "cases"

# Headers whose values legitimately differ from run to run or by server.
IGNORED_HEADERS = frozenset(("date", "server"))

_IMPORT_RE = re.compile(r"^(\s*)(from|import)(\s+)fastapi\b", re.M)


def case_names() -> list:
    return sorted(p.stem for p in CASES_DIR.glob("*.py") if not p.name.startswith("_"))


def case_source(name: str, flavor: str) -> str:
    """The case's source; for "fasterapi", with every ``import fastapi`` /
    ``from fastapi...`` switched to fasterapi (only import statements: a
    string that says "fastapi" stays)."""
    src = (CASES_DIR / f"{name}.py").read_text()
    if flavor == "fastapi":
        return src
    return _IMPORT_RE.sub(r"\1\2\3fasterapi", src)


def load_case(name: str, flavor: str):
    """Imports the case as module ``parity_<flavor>_<name>`` (registered in
    sys.modules, as dataclasses and pydantic want), recording the warnings
    raised while it was imported in ``module.__parity_warnings__``."""
    modname = f"parity_{flavor}_{name}"
    mod = types.ModuleType(modname)
    mod.__file__ = str(CASES_DIR / f"{name}.py")
    sys.modules[modname] = mod
    code = compile(case_source(name, flavor), mod.__file__, "exec")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        exec(code, mod.__dict__)  # noqa: S102 - the test's own case files
    mod.__parity_warnings__ = _deprecations(caught)
    return mod


# Starlette warns, once, when its TestClient is first imported with httpx
# rather than httpx2: about the oracle's test environment, not about the app.
_ENVIRONMENT_WARNINGS = frozenset(("StarletteDeprecationWarning",))


def _deprecations(caught) -> list:
    """The category names of the deprecation warnings caught (FastAPI's
    FastAPIDeprecationWarning is a UserWarning, hence the name test)."""
    return [w.category.__name__ for w in caught
            if "Deprecation" in w.category.__name__ and w.category.__name__ not in _ENVIRONMENT_WARNINGS]


def observe(r) -> dict:
    """What is compared of a response: status, headers (lower-case names,
    sorted, date/server left out), the body (parsed when it is JSON) and,
    for redirects not followed, the location."""
    headers = sorted((k.lower(), v) for k, v in r.headers.multi_items() if k.lower() not in IGNORED_HEADERS)
    ct = r.headers.get("content-type", "")
    body = r.content
    if "json" in ct and body:
        try:
            body = json.loads(body)
        except ValueError:
            body = body.decode("utf-8", "replace")
    else:
        body = body.decode("utf-8", "replace")
    return {"status": r.status_code, "headers": headers, "body": body}


def _request(client, spec):
    method, url = spec[0], spec[1]
    kwargs = dict(spec[2]) if len(spec) > 2 else {}
    return client.request(method, url, **kwargs)


def run_case(mod) -> dict:
    """Everything observed of one loaded case."""
    out = {"import_warnings": mod.__parity_warnings__}
    scenario = getattr(mod, "scenario", None)
    if scenario is not None:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out["scenario"] = scenario(observe)
        out["scenario_warnings"] = _deprecations(caught)
    TestClient = _testclient_of(mod)
    app = getattr(mod, "app", None)
    requests = getattr(mod, "REQUESTS", None)
    if app is not None and (requests or getattr(mod, "OPENAPI", True)):
        with TestClient(app) as client:
            if requests:
                out["requests"] = []
                for spec in requests:
                    try:
                        out["requests"].append({"request": list(spec[:2]), **observe(_request(client, spec))})
                    except Exception as exc:  # noqa: BLE001 - an exception is an observation too
                        out["requests"].append({"request": list(spec[:2]), "raised": type(exc).__name__})
            if getattr(mod, "OPENAPI", True):
                doc = observe(client.get("/openapi.json"))
                # the document is compared as parsed JSON (key order, spacing and 0 vs 0.0 aside),
                # so its byte length is not
                doc["headers"] = [(k, v) for k, v in doc["headers"] if k != "content-length"]
                out["openapi"] = doc
    return json_roundtrip(out)


def json_roundtrip(out):
    """What the two sides return is compared as JSON: a tuple on one side
    and a list on the other (an error's loc, say) are the same JSON."""
    return json.loads(json.dumps(out, default=repr))


def _testclient_of(mod):
    flavor = "fasterapi" if mod.__name__.startswith("parity_fasterapi_") else "fastapi"
    return importlib.import_module(f"{flavor}.testclient").TestClient


def diff(a, b, path="$", out=None, limit=40) -> list:
    """The differences between two JSON-like values, one line each, with
    the path where they are (FastAPI's value first)."""
    if out is None:
        out = []
    if len(out) >= limit:
        return out
    if isinstance(a, dict) and isinstance(b, dict):
        for k in a:
            if k not in b:
                out.append(f"{path}.{k}: only in fastapi: {_short(a[k])}")
            else:
                diff(a[k], b[k], f"{path}.{k}", out, limit)
        for k in b:
            if k not in a:
                out.append(f"{path}.{k}: only in fasterapi: {_short(b[k])}")
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append(f"{path}: length {len(a)} != {len(b)}: fastapi {_short(a)} / fasterapi {_short(b)}")
        else:
            for i, (x, y) in enumerate(zip(a, b)):
                diff(x, y, f"{path}[{i}]", out, limit)
    elif a != b or type(a) is not type(b) and not (isinstance(a, (int, float)) and isinstance(b, (int, float))):
        out.append(f"{path}: fastapi {_short(a)} != fasterapi {_short(b)}")
    return out


def _short(v, n=300):
    s = json.dumps(v, default=repr, sort_keys=True)
    return s if len(s) <= n else s[:n] + "..."
