"""Each case of cases/ run under FastAPI (the oracle) and FasterAPI through
their TestClients; any difference fails with one line per difference (see
harness.py)."""
import pytest

import harness

# Differences that are known, explained in docs/migration.md, and kept:
# case name -> reason.  They run as strict xfails, so one that starts to
# pass fails the suite until it is taken off this list.
KNOWN = {}


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
