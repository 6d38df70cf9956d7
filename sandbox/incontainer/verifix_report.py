"""Records every pytest report as one JSON line, keyed by the exact node id.

Runs inside the sandbox under whatever pytest and Python the project uses, so it sticks to
hooks and attributes that have existed since pytest 3 and to syntax Python 3.6 accepts.
JUnit XML loses node ids (class and module paths are merged), this keeps them.
"""

import json
import os

_MAX_MESSAGE = 8000


def _longrepr(report):
    text = getattr(report, "longreprtext", None)
    if text is None and report.longrepr is not None:
        text = str(report.longrepr)
    text = text or ""
    if len(text) > _MAX_MESSAGE:
        half = _MAX_MESSAGE // 2
        text = text[:half] + "\n[...]\n" + text[-half:]
    return text


def _write(record):
    path = os.environ.get("VERIFIX_REPORT")
    if path:
        with open(path, "a") as out:
            out.write(json.dumps(record) + "\n")


def pytest_runtest_logreport(report):
    _write(
        {
            "id": report.nodeid,
            "when": report.when,
            "outcome": report.outcome,
            "xfail": hasattr(report, "wasxfail"),
            "message": _longrepr(report) if report.outcome != "passed" else "",
            "duration": getattr(report, "duration", 0.0),
        }
    )


def pytest_collectreport(report):
    if report.outcome == "failed":
        _write(
            {
                "id": report.nodeid,
                "when": "collect",
                "outcome": "failed",
                "xfail": False,
                "message": _longrepr(report),
                "duration": 0.0,
            }
        )
