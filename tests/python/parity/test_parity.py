"""Each case of cases/ run under FastAPI (the oracle) and FasterAPI through
their TestClients; any difference fails with one line per difference (see
harness.py)."""
import pytest

import harness

# Cases known to differ, with what differs (docs/migration.md lists them):
# case name -> reason.  Open work of issue 13 unless the reason says the
# difference is kept.  They run as strict xfails, so a case that starts to
# pass fails the suite until it is taken off this list.
KNOWN = {
    "openapi_meta": "/docs and /redoc pages are our own HTML (kept: same function, different page)",
    "path_params": "kept: the 405's Allow lists HEAD beside GET, since we answer HEAD on GET routes "
                   "(see status_and_responses); FastAPI's lists GET",
    "status_and_responses": "kept, both in migration.md: HEAD on a GET-only route answers 200 (ours) where "
                            "FastAPI answers 405; a Response without a media type (StreamingResponse(gen)) gets "
                            "'content-type: application/octet-stream' from our server (RFC 9110 8.3: a sender "
                            "SHOULD send one), Starlette sends none",
}


def _params():
    out = []
    for name in harness.case_names():
        marks = [pytest.mark.xfail(reason=KNOWN[name], strict=True)] if name in KNOWN else []
        out.append(pytest.param(name, marks=marks, id=name))
    return out


@pytest.mark.parametrize("name", _params())
def test_case(name):
    want = harness.run_case(harness.load_case(name, "fastapi"))
    got = harness.run_case(harness.load_case(name, "fasterapi"))
    lines = harness.diff(want, got)
    assert not lines, f"case {name}: FasterAPI differs from FastAPI in {len(lines)} place(s):\n" + "\n".join(lines)
