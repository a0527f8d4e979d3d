#!/usr/bin/env python3
"""Writes the MUST-by-MUST table of docs/conformance-h1.md or
docs/conformance-ws.md from a pytest run of tests/python/h1conf or
tests/python/wsconf (its --junitxml output): one row per test and case,
one column per transport (cleartext, TLS), the requirement it checks from
the test's docstring.  (scripts/h2conf_table.py does the same for the
HTTP/2 suite.)

    .venv/bin/python -m pytest tests/python/h1conf --junitxml=/tmp/h1conf.xml
    python3 scripts/conf_table.py h1conf /tmp/h1conf.xml > /tmp/table.md

The section comes from the test's name: test_<rfc>_<section>_... for an
RFC other than the suite's own (9110, 7692, 8441), test_<section>_...
otherwise.  Transports: "plain" (HTTP/1.1 over TCP) or "prior" (h2c prior
knowledge, RFC 8441 tests) are the cleartext column, "tls" the TLS one.
"""
import ast
import re
import sys
import xml.etree.ElementTree as ET
from collections import OrderedDict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUITES = {"h1conf": "9112", "wsconf": "6455"}
OTHER_RFCS = ("9110", "7692", "8441")
COLUMNS = {"plain": "cleartext", "prior": "cleartext", "tls": "tls"}


def docstrings(suite):
    out = {}
    for p in sorted((ROOT / "tests/python" / suite).glob("test_*.py")):
        for node in ast.parse(p.read_text()).body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                out[node.name] = " ".join((ast.get_docstring(node) or "").split())
    return out


def section(name, default_rfc):
    m = re.match(r"test_(\d{4})_((?:\d+_)*)", name)
    if m and m.group(1) in OTHER_RFCS:
        rfc, nums = m.group(1), m.group(2)
    else:
        m = re.match(r"test_((?:\d+_)+)", name)
        rfc, nums = default_rfc, (m.group(1) if m else "")
    return rfc, ".".join(x for x in nums.split("_") if x)


def main(suite, xml_path):
    default_rfc = SUITES[suite]
    docs = docstrings(suite)
    rows = OrderedDict()
    for tc in ET.parse(xml_path).getroot().iter("testcase"):
        name = tc.get("name")
        m = re.match(r"(\w+)\[(.*)\]$", name)
        base, params = (m.group(1), m.group(2)) if m else (name, "")
        parts = params.split("-") if params else []
        col = COLUMNS.get(parts[0]) if parts else None
        case = "-".join(parts[1:] if col else parts)
        col = col or "cleartext"
        result = "pass"
        if tc.find("failure") is not None or tc.find("error") is not None:
            result = "FAIL"
        elif tc.find("skipped") is not None:
            result = "n/a"
        rows.setdefault((base, case), {})[col] = result

    def order(key):
        rfc, sec = section(key[0], default_rfc)
        return (rfc != default_rfc, rfc, [int(x) for x in sec.split(".") if x])

    print("| RFC | section | test [case] | requirement | cleartext | tls |")
    print("|---|---|---|---|---|---|")
    for (base, case), res in sorted(rows.items(), key=lambda kv: order(kv[0])):
        rfc, sec = section(base, default_rfc)
        doc = docs.get(base, "")
        doc = doc.split(". ")[0].rstrip(".") if doc else ""
        label = f"{base}[{case}]" if case else base
        label = label.replace("|", "\\|")
        print(f"| {rfc} | {sec} | `{label}` | {doc.replace('|', '/')} | "
              f"{res.get('cleartext', '-')} | {res.get('tls', '-')} |")


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in SUITES:
        sys.exit("usage: conf_table.py h1conf|wsconf JUNIT_XML")
    main(sys.argv[1], sys.argv[2])
