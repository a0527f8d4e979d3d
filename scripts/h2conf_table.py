#!/usr/bin/env python3
"""Writes the conformance table of docs/conformance.md from a pytest run of
tests/python/h2conf (its --junitxml output): one row per test and case, one
column per transport, the MUST it checks from the test's docstring.

    FA_H2CONF_ORACLE=1 .venv/bin/python -m pytest tests/python/h2conf --junitxml=/tmp/h2conf.xml
    python3 scripts/h2conf_table.py /tmp/h2conf.xml > /tmp/table.md
"""
import ast
import re
import sys
import xml.etree.ElementTree as ET
from collections import OrderedDict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUITE = ROOT / "tests/python/h2conf"
TRANSPORTS = ["prior", "upgrade", "tls", "nghttpd"]


def docstrings():
    out = {}
    for p in sorted(SUITE.glob("test_*.py")):
        for node in ast.parse(p.read_text()).body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                doc = ast.get_docstring(node) or ""
                out[node.name] = " ".join(doc.split())
    return out


def section(name):
    m = re.match(r"test_(7541)_((?:\d+_)*)", name)
    if m:
        return "7541 " + ".".join(x for x in m.group(2).split("_") if x)
    m = re.match(r"test_((?:\d+_)+)", name)
    return ".".join(x for x in m.group(1).split("_") if x) if m else "?"


def main(xml_path):
    docs = docstrings()
    rows = OrderedDict()
    for tc in ET.parse(xml_path).getroot().iter("testcase"):
        name = tc.get("name")
        m = re.match(r"(\w+)\[(.*)\]$", name)
        base, params = (m.group(1), m.group(2)) if m else (name, "")
        parts = params.split("-") if params else []
        transport = next((t for t in TRANSPORTS if parts and parts[0] == t), None)
        case = "-".join(parts[1:] if transport else parts)
        if transport is None:  # tests of their own listener (3.2)
            transport = "tls" if "tls" in base else "prior"
        result = "pass"
        if tc.find("failure") is not None or tc.find("error") is not None:
            result = "FAIL"
        elif (sk := tc.find("skipped")) is not None:
            result = "xfail" if "xfail" in (sk.get("type", "") + sk.get("message", "")) else "n/a"
        rows.setdefault((base, case), {})[transport] = result
    print("| RFC | test [case] | MUST | " + " | ".join(TRANSPORTS) + " |")
    print("|---|---|---|" + "---|" * len(TRANSPORTS))
    def order(key):
        sec = section(key[0])
        nums = [int(x) for x in re.findall(r"\d+", sec)]
        return (sec.startswith("7541"), nums)

    for (base, case), res in sorted(rows.items(), key=lambda kv: order(kv[0])):
        doc = docs.get(base, "")
        doc = doc.split(". ")[0].rstrip(".") if doc else ""
        label = f"{base}[{case}]" if case else base
        cells = " | ".join(res.get(t, "-") for t in TRANSPORTS)
        print(f"| {section(base)} | `{label}` | {doc.replace('|', '/')} | {cells} |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/h2conf.xml")
