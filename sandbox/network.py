"""Proxy, package-index and CA pass-through for the environment-setup phase.

Behind a corporate proxy that intercepts TLS, pip inside a container fails unless it is told
the proxy and trusts the proxy's CA. The host already knows both (environment variables and
pip's configuration), so verifix carries them over for setup only; test runs get no network.
"""

from __future__ import annotations

import configparser
import os
from dataclasses import dataclass, field
from pathlib import Path

#: Where the CA bundle is copied inside a setup container (never bind-mounted).
CONTAINER_CA_PATH = "/etc/verifix/ca.pem"

_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY")
_CA_ENV_VARS = ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE")


@dataclass(frozen=True)
class SetupNetwork:
    """What a setup container needs to reach package indexes like the host does."""

    env: dict[str, str] = field(default_factory=dict)
    ca_bundle: Path | None = None
    notes: tuple[str, ...] = ()

    def container_env(self) -> dict[str, str]:
        """Environment for setup commands, pointing every TLS client at the copied CA."""
        env = dict(self.env)
        if self.ca_bundle is not None:
            for name in (*_CA_ENV_VARS, "GIT_SSL_CAINFO", "NODE_EXTRA_CA_CERTS"):
                env[name] = CONTAINER_CA_PATH
        return env

    def cache_relevant(self) -> dict[str, str]:
        """The settings that change what gets installed (indexes), not how it travels."""
        return {k: v for k, v in self.env.items() if k.startswith("PIP_")}


def _pip_config_files() -> list[Path]:
    """pip's configuration files, lowest precedence first, as pip itself reads them."""
    home = Path.home()
    xdg_dirs = os.environ.get("XDG_CONFIG_DIRS", "/etc/xdg").split(":")
    files = [Path(d) / "pip" / "pip.conf" for d in xdg_dirs]
    files.append(Path("/etc/pip.conf"))
    files.append(home / ".pip" / "pip.conf")
    files.append(Path(os.environ.get("XDG_CONFIG_HOME", home / ".config")) / "pip" / "pip.conf")
    if os.environ.get("PIP_CONFIG_FILE"):
        files.append(Path(os.environ["PIP_CONFIG_FILE"]))
    return files


def _host_pip_settings() -> dict[str, str]:
    """Index, trusted-host and cert settings from pip's config files and PIP_* variables."""
    settings: dict[str, str] = {}
    for path in _pip_config_files():
        parser = configparser.ConfigParser()
        try:
            parser.read(path)
        except (configparser.Error, OSError):
            continue
        for section in ("global", "install"):
            if parser.has_section(section):
                for key in ("index-url", "extra-index-url", "trusted-host", "cert"):
                    if parser.has_option(section, key):
                        settings[key] = parser.get(section, key)
    for key in ("index-url", "extra-index-url", "trusted-host", "cert"):
        value = os.environ.get("PIP_" + key.upper().replace("-", "_"))
        if value:
            settings[key] = value
    return settings


def _reachable_urls(value: str, notes: list[str]) -> list[str]:
    """Drop file:// and path indexes: the host's disk is not in the container."""
    kept = []
    for url in value.split():
        if url.startswith(("http://", "https://")):
            kept.append(url)
        else:
            notes.append(f"pip index {url} is on the host's disk; not passed to the container")
    return kept


def from_host(overrides: dict[str, str] | None = None) -> SetupNetwork:
    """Collect the host's proxy, index and CA settings; ``overrides`` (from config) win.

    Override keys: http_proxy, https_proxy, no_proxy, index_url, extra_index_url,
    trusted_host, ca_bundle.
    """
    overrides = overrides or {}
    notes: list[str] = []
    env: dict[str, str] = {}
    for name in _PROXY_VARS:
        value = os.environ.get(name) or os.environ.get(name.lower())
        if value:
            env[name] = env[name.lower()] = value
    pip = _host_pip_settings()
    index = _reachable_urls(pip.get("index-url", ""), notes)
    if index:
        env["PIP_INDEX_URL"] = index[0]
    extra = _reachable_urls(pip.get("extra-index-url", ""), notes)
    if extra:
        env["PIP_EXTRA_INDEX_URL"] = " ".join(extra)
    if pip.get("trusted-host"):
        env["PIP_TRUSTED_HOST"] = pip["trusted-host"]

    ca: str | None = pip.get("cert")
    for name in _CA_ENV_VARS:
        ca = ca or os.environ.get(name)

    for key, value in overrides.items():
        if key in ("http_proxy", "https_proxy", "no_proxy"):
            env[key.upper()] = env[key] = value
        elif key == "index_url":
            env["PIP_INDEX_URL"] = value
        elif key == "extra_index_url":
            env["PIP_EXTRA_INDEX_URL"] = value
        elif key == "trusted_host":
            env["PIP_TRUSTED_HOST"] = value
        elif key == "ca_bundle":
            ca = value

    ca_path = Path(ca).expanduser() if ca else None
    if ca_path is not None and not ca_path.is_file():
        notes.append(f"CA bundle {ca_path} does not exist; containers use their own CAs")
        ca_path = None
    return SetupNetwork(env=env, ca_bundle=ca_path, notes=tuple(notes))
