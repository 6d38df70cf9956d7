"""Secrets never leave this machine in text verifix writes: prompts, records, PR bodies,
comments.

Two nets, because neither is enough alone. The exact values of this process's secret-named
environment variables (``*_KEY``, ``*_TOKEN``, ``*SECRET*``, ``*PASSWORD*``, ...) are
replaced wherever they appear, whatever their shape: that catches the user's own keys even
when a repo file, a log or a hostile issue smuggled them into a prompt. Well-known token
shapes (provider keys, GitHub tokens, cloud keys, bearer headers, passwords in URLs) are
replaced too, so a secret from elsewhere (a test log that printed one) does not travel on.
"""

from __future__ import annotations

import os
import re

MARK = "[redacted]"

_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSW|CREDENTIAL", re.IGNORECASE)
#: Shorter values are too likely to be ordinary words ("true", a port) to replace blindly.
_MIN_VALUE = 8
_SHAPES = [
    re.compile(p)
    for p in (
        r"\bsk-(?:ant-|proj-|or-)?[A-Za-z0-9_-]{20,}",  # OpenAI, Anthropic, OpenRouter
        r"\bgh[pousr]_[A-Za-z0-9]{30,}",  # GitHub tokens
        r"\bgithub_pat_[A-Za-z0-9_]{30,}",
        r"\bxox[abprs]-[A-Za-z0-9-]{10,}",  # Slack
        r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",  # AWS access key ids
        r"\bAIza[0-9A-Za-z_-]{35}",  # Google API keys
        r"\bhf_[A-Za-z0-9]{30,}",  # Hugging Face
        r"\bgsk_[A-Za-z0-9]{30,}",  # Groq
        r"(?i)(?<=bearer )[A-Za-z0-9._~+/=-]{16,}",
    )
]
#: ``scheme://user:password@host``: the password goes, the rest stays readable.
#: Every part bounded: an unbounded scheme would make a long run of letters (a 5 MB reply)
#: cost quadratic time, since the match is retried from each of its positions.
_URL_PASSWORD = re.compile(
    r"(?P<head>\b[a-z][a-z0-9+.-]{0,15}://[^/\s:@]{0,256}:)[^/\s@]{1,256}(?=@)", re.I
)


def host_secrets(environ: dict[str, str] | None = None) -> list[str]:
    """Values of secret-named variables in the environment, longest first (so a secret
    that contains another is replaced whole)."""
    env = os.environ if environ is None else environ
    values = {v for k, v in env.items() if _SECRET_NAME.search(k) and len(v) >= _MIN_VALUE}
    return sorted(values, key=len, reverse=True)


def redact(text: str, environ: dict[str, str] | None = None) -> str:
    """``text`` with every secret it holds replaced by ``[redacted]``."""
    for value in host_secrets(environ):
        if value in text:
            text = text.replace(value, MARK)
    for shape in _SHAPES:
        text = shape.sub(MARK, text)
    text = _private_keys(text)
    return _URL_PASSWORD.sub(lambda m: m["head"] + MARK, text)


_PEM_BEGIN = re.compile(r"-----BEGIN [A-Z ]{0,40}PRIVATE KEY-----")
_PEM_END = re.compile(r"-----END [A-Z ]{0,40}PRIVATE KEY-----")
#: A PEM private key is a few KB (4096-bit RSA: about 3.3 KB); the END is looked for only
#: that far, so many BEGIN lines with no END cost linear time, not quadratic.
_PEM_MAX = 8000


def _private_keys(text: str) -> str:
    """PEM private key blocks replaced whole."""
    out, position = [], 0
    while (begin := _PEM_BEGIN.search(text, position)) is not None:
        end = _PEM_END.search(text, begin.end(), begin.end() + _PEM_MAX)
        if end is None:
            out.append(text[position : begin.end()])
            position = begin.end()
            continue
        out.append(text[position : begin.start()] + MARK)
        position = end.end()
    out.append(text[position:])
    return "".join(out)


def redact_data(data: object, environ: dict[str, str] | None = None) -> object:
    """``redact`` applied to every string in a JSON-like structure (a run record)."""
    if isinstance(data, str):
        return redact(data, environ)
    if isinstance(data, dict):
        return {k: redact_data(v, environ) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [redact_data(v, environ) for v in data]
    return data
