"""``verifix locate`` and ``agent.locate``: the ranking's signals on small generated repos,
the per-blob cache (counted parses, not seconds), symbolic links never read, and the
command's errors and JSON. No Docker, no model, no timing."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import verifix
from verifix.agent import context, locate, sources, symbols, tokens
from verifix.sandbox.container import ExecResult
from verifix.sandbox.testrun import TestReport


def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("VERIFIX_CACHE_DIR", str(folder))
    return folder


@pytest.fixture
def shop(tmp_path) -> Path:
    return _write(
        tmp_path / "repo",
        {
            "shop/__init__.py": "",
            "shop/pricing.py": (
                "from .rounding import round_cents\n\n\n"
                "class DiscountPolicy:\n"
                "    def apply(self, price, percent):\n"
                "        return round_cents(price * percent)\n"
            ),
            "shop/rounding.py": "def round_cents(amount):\n    return int(amount * 100) / 100\n",
            "shop/cart.py": (
                "class Cart:\n"
                "    def __init__(self, items):\n        self.items = items\n\n"
                "    def total(self):\n        return sum(self.items)\n"
            ),
            "shop/io.py": "def load_catalog(path):\n    return open(path).read()\n",
            "shop/wire.py": "def parseHeaderBlock(data):\n    return data.split(b'|')\n",
            "tests/test_cart.py": "from shop.cart import Cart\n\ndef test_total():\n    Cart([])\n",
        },
    )


def _ranked(root: Path, issue: str, **kwargs) -> locate.Ranking:
    return locate.Locator().locate(root, issue, **kwargs)


def test_tokens_split_identifiers_and_keep_them_whole():
    assert tokens.split("parseHeaderBlock") == ["parse", "header", "block", "parseheaderblock"]
    assert tokens.split("parse_header_block") == ["parse", "header", "block", "parseheaderblock"]
    assert tokens.split("HTTPServer") == ["http", "server", "httpserver"]
    assert tokens.split("cart") == ["cart"]
    assert tokens.key("Parse_Header") == tokens.key("parseHeader") == "parseheader"


def test_symbols_are_definitions_references_and_imports():
    parsed = symbols.parse(
        "pkg/m.py",
        "from .a import b\nimport os.path\n\nclass Foo(Base):\n    def bar(self):\n        g()\n",
    )
    defs = [(d.qualified, d.kind, d.line, d.end) for d in parsed.definitions]
    assert defs == [("Foo", "class", 4, 6), ("Foo.bar", "function", 5, 6)]
    assert parsed.imports == [".a", "os.path"]
    assert parsed.references["Base"] == 1 and parsed.references["g"] == 1
    assert "Foo" not in parsed.references and "bar" not in parsed.references


def test_a_class_named_in_the_issue_ranks_its_file_first(shop, cache):
    ranking = _ranked(shop, "DiscountPolicy gives the wrong price for 15 percent off")
    first = ranking.files[0]
    assert first.path == "shop/pricing.py"
    assert "names class DiscountPolicy" in first.reasons
    assert first.symbols[0].name == "DiscountPolicy"


def test_a_traceback_points_at_the_file_and_the_function(shop, cache):
    issue = (
        "Loading fails:\n\nTraceback (most recent call last):\n"
        '  File "/home/me/app/main.py", line 3, in <module>\n'
        '  File "/home/me/venv/site-packages/shop/io.py", line 2, in load_catalog\n'
        "FileNotFoundError: [Errno 2] No such file or directory: 'x'\n"
    )
    ranking = _ranked(shop, issue)
    first = ranking.files[0]
    assert first.path == "shop/io.py"
    assert "traceback: line 2, in load_catalog" in first.reasons
    assert first.symbols[0].name == "load_catalog"
    assert "traceback line 2" in first.symbols[0].reasons


def test_a_snake_case_phrase_finds_a_camel_case_symbol(shop, cache):
    ranking = _ranked(shop, "parse_header_block drops the last field of a frame")
    first = ranking.files[0]
    assert first.path == "shop/wire.py"
    assert "names function parseHeaderBlock" in first.reasons


def test_a_file_reached_only_through_the_import_graph_is_ranked(shop, cache):
    ranking = _ranked(shop, "DiscountPolicy.apply gives the wrong price")
    by_path = {f.path: f for f in ranking.files}
    helper = by_path["shop/rounding.py"]  # no word of the issue in it
    assert helper.signals["bm25"] == 0 and helper.signals["symbols"] == 0
    assert helper.signals["graph"] > 0
    assert "imported by top file shop/pricing.py" in helper.reasons
    paths = ranking.paths()
    assert "shop/cart.py" not in paths[: paths.index("shop/rounding.py")]  # unrelated


def test_the_cache_parses_only_changed_files(shop, cache, monkeypatch):
    parsed: list[str] = []
    real = symbols.parse

    def counting(path: str, text: str):
        parsed.append(path)
        return real(path, text)

    monkeypatch.setattr(symbols, "parse", counting)
    files = sources.source_files(shop)
    locate.Locator().locate(shop, "Cart total is wrong")
    assert sorted(parsed) == files
    parsed.clear()
    again = locate.Locator().locate(shop, "Cart total is wrong")
    assert parsed == [] and again.stats.cached == len(files)
    (shop / "shop/cart.py").write_text("class Cart:\n    def total(self):\n        return 1\n")
    changed = locate.Locator().locate(shop, "Cart total is wrong")
    assert parsed == ["shop/cart.py"] and changed.stats.parsed == 1
    assert (cache / "index").is_dir()
    assert sorted(p.relative_to(shop).as_posix() for p in shop.rglob("*") if p.is_file()) == [
        "shop/__init__.py",
        *sorted(files[1:]),
    ]  # nothing written into the repository


def test_symbolic_links_out_of_the_repo_are_never_read(tmp_path, cache, monkeypatch):
    root = _write(tmp_path / "repo", {"app/core.py": "def start():\n    return 1\n"})
    (root / "app/passwd.py").symlink_to("/etc/passwd")
    (root / "app/hostenv.py").symlink_to("/proc/self/environ")
    (root / "etc").symlink_to("/etc")
    monkeypatch.setenv("VERIFIX_PROBE_SECRET", "zqxjkvprobe")
    opened: list[str] = []
    real_open = os.open

    def watching(path, *args, **kwargs):
        opened.append(os.path.realpath(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", watching)
    hostile = ["app/core.py", "app/passwd.py", "app/hostenv.py", "etc/passwd", "etc/hostname"]
    issue = "root nologin daemon zqxjkvprobe VERIFIX_PROBE_SECRET start"
    repo = locate.index(root, hostile, cache / "index")
    assert {e.path: bool(e.terms) for e in repo.entries} == {p: p == "app/core.py" for p in hostile}
    assert locate.Locator().rank(root, hostile, issue, []) == ["app/core.py"]
    assert sources.source_files(root) == ["app/core.py"]
    outside = [p for p in opened if p.startswith(("/etc", "/proc"))]
    assert outside == []
    blobs = (cache / "index" / "blobs.sqlite").read_bytes()
    assert b"nologin" not in blobs and b"zqxjkvprobe" not in blobs


def test_the_locator_plugs_into_context_build(shop, cache):
    report = TestReport({}, ExecResult(1, "", False, 0.0), "pytest")
    text = context.build(shop, "round_cents loses a cent", report, 4000, locate.Locator())
    assert "## shop/rounding.py\n```python\ndef round_cents" in text


# --- the command -------------------------------------------------------------------------


def _run(*args: str, cache: Path) -> object:
    return verifix("locate", *args, env={"VERIFIX_CACHE_DIR": str(cache)})


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "name the issue: a GitHub reference"),
        (("--issue-text", "x", "--issue-file", "f.md"), "name the issue: a GitHub reference"),
        (("--issue-text", "x", "--top", "0"), "--top must be at least 1, not 0"),
        (("owner/repo#3", "--issue-text", "x"), "owner/repo#3 names the issue already"),
        (("--issue-file", "nowhere.md"), "issue file nowhere.md does not exist"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(shop, tmp_path, args, message):
    result = verifix("locate", *args, env={"VERIFIX_CACHE_DIR": str(tmp_path / "c")}, cwd=shop)
    assert result.code == 2, result.err
    assert result.err.count("\n") == 1 and result.err.startswith("error: "), result.err
    assert message in result.err
    assert result.out == ""


def test_a_repo_that_is_not_there_is_a_usage_error(tmp_path):
    result = _run(str(tmp_path / "missing"), "--issue-text", "x", cache=tmp_path / "c")
    assert result.code == 2
    assert result.err.strip() == f"error: {tmp_path / 'missing'} is not a directory"


def test_json_follows_the_schema(shop, tmp_path):
    result = _run(
        str(shop),
        "--issue-text",
        "DiscountPolicy is wrong",
        "--json",
        "--top",
        "2",
        cache=tmp_path / "c",
    )
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["schema"] == "verifix.locate/1"
    assert set(data) == {"schema", "files", "index"}
    assert len(data["files"]) == 2
    first = data["files"][0]
    assert set(first) == {"path", "score", "reasons", "signals", "symbols"}
    assert first["path"] == "shop/pricing.py"
    assert set(first["signals"]) == {"bm25", "symbols", "mentions", "traceback", "graph"}
    assert set(first["symbols"][0]) == {"name", "kind", "line", "end", "score", "reasons"}
    assert set(data["index"]) == {"files", "parsed", "cached", "seconds"}
    assert data["index"]["parsed"] == data["index"]["files"]


def test_plain_output_is_a_line_per_file_with_its_reasons(shop, tmp_path):
    result = _run(
        str(shop), "--issue-text", "DiscountPolicy is wrong", "--top", "1", cache=tmp_path / "c"
    )
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].startswith("1. shop/pricing.py  ")
    assert "names class DiscountPolicy" in lines[0]
    assert lines[1].strip().startswith("DiscountPolicy (class, lines 4-6)")
    assert not any(line.startswith("2. ") for line in lines)
