"""Records every pytest report as one JSON line on the results pipe (fd 3), by exact node id.

Runs inside the sandbox under whatever pytest and Python the project uses, so it sticks to
hooks and attributes that have existed since pytest 3 and to syntax Python 3.6 accepts.
JUnit XML loses node ids (class and module paths are merged), this keeps them.

The pipe's read end belongs to the supervisor, so what is written cannot be taken back; the
host keeps the worst outcome it sees for a test. This plugin also watches the test function
itself return or raise (innermost ``pytest_pyfunc_call`` wrapper), so a report rewritten
later by another hook (a hook wrapper that turns failures into passes) disagrees with what
was seen and is caught. Only the outermost session reports: a pytester run inside a test
is that test's business, not a result.
"""

import json
import os
import stat

import pytest

_MAX_MESSAGE = 8000
_fd = None
_config = None
_current = None  # node id of the test being run by our session
_watched = {}  # node id -> "returned" | "raised", from the test function itself
_plain = set()  # node ids of plain Python test functions (pytest_pyfunc_call must run)


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
    if _fd is None:
        return
    data = (json.dumps(record) + "\n").encode()
    try:
        while data:
            data = data[os.write(_fd, data) :]
    except OSError:
        pass


def pytest_configure(config):
    global _fd, _config
    if _config is not None:
        return
    _config = config
    # A module that cannot be imported (a maintainer script named like a test, say) is an
    # error and the rest of the suite still runs; pytest would otherwise stop the whole
    # session. Set here, not on the command line: pytest before 3.0 has no such option.
    if hasattr(config.option, "continue_on_collection_errors"):
        config.option.continue_on_collection_errors = True
    fd = os.environ.pop("VERIFIX_REPORT_FD", None)
    if not fd:
        return
    try:
        fd = int(fd)
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            os.set_inheritable(fd, False)
            _fd = fd
    except (ValueError, OSError):
        pass


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    global _current
    if item.config is _config:
        _current = item.nodeid
        cls = type(item)
        if cls.__name__ == "Function" and cls.__module__ == "_pytest.python":
            _plain.add(item.nodeid)


@pytest.hookimpl(hookwrapper=True, trylast=True)
def pytest_pyfunc_call(pyfuncitem):
    outcome = yield
    if pyfuncitem.config is _config:
        _watched[pyfuncitem.nodeid] = "raised" if outcome.excinfo else "returned"


def pytest_runtest_logreport(report):
    if _current is not None and report.nodeid != _current:
        return  # a report from a session run inside a test
    record = {
        "id": report.nodeid,
        "when": report.when,
        "outcome": report.outcome,
        "xfail": hasattr(report, "wasxfail"),
        "message": _longrepr(report) if report.outcome != "passed" else "",
        "duration": getattr(report, "duration", 0.0),
    }
    if report.when == "call" and report.nodeid in _plain:
        record["watched"] = _watched.pop(report.nodeid, "missing")
    _write(record)


def pytest_collectreport(report):
    if report.outcome == "failed" and _current is None:
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


def pytest_sessionfinish(session, exitstatus):
    if session.config is _config:
        _write({"session": "finished", "exitstatus": int(exitstatus)})
