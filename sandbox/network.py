"""Proxy, package-index and CA settings for the environment-setup phase, and the setup
gateway that carries them.

Behind a corporate proxy that intercepts TLS, pip inside a container fails unless it is told
the proxy and trusts the proxy's CA. The host already knows both (environment variables and
pip's configuration), so verifix carries them over for setup only; test runs get no network.
Secrets in those settings (a proxy password, an index token) never enter the container:
setup talks to the setup gateway (``gateway``), which holds them on the host side.

An engine on another machine (enginehost.py) runs setup on that machine's network, which
this machine's settings do not describe and the gateway cannot serve: ``on_engine`` takes
only what the configuration names and the engine's own proxy, and refuses credentials,
which would have nothing but the container to go to.
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from .enginehost import EngineHost
from .errors import UsageError
from .gateway import Gateway, Index, Upstream, has_credentials

#: Where the CA bundle is copied inside a setup container (never bind-mounted).
CONTAINER_CA_PATH = "/etc/verifix/ca.pem"

_PROXY_VARS = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY")
_CA_ENV_VARS = ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE")


@dataclass(frozen=True)
class SetupNetwork:
    """How setup reaches package indexes like the host does; ``proxy`` and credentialed
    index URLs stay on the host (the gateway uses them)."""

    proxy: str | None = None
    no_proxy: str = ""
    index_urls: tuple[str, ...] = ()  # the first is the main index, the rest extra ones
    trusted_hosts: tuple[str, ...] = ()
    ca_bundle: Path | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    #: The settings are the engine machine's, free of credentials, and setup gets them as
    #: they are (no gateway stands between it and that machine's network).
    direct: bool = False

    def gateway(self, bind: str) -> Gateway:
        """The gateway for one build: the host's proxy upstream, credentialed indexes
        served without their credentials, and the user's own index hosts reachable even
        on a private network."""
        allowed = set()
        for url in self.index_urls:
            parts = urlsplit(url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
            allowed.add(f"{(parts.hostname or '').lower()}:{port}")
        for host in self.trusted_hosts:
            name, _, port = host.lower().partition(":")
            allowed |= {f"{name}:{port}"} if port else {f"{name}:80", f"{name}:443"}
        return Gateway(
            bind,
            upstream=Upstream.parse(self.proxy, self.no_proxy) if self.proxy else None,
            indexes=[Index.parse(u) for u in self.index_urls if has_credentials(u)],
            allowed=frozenset(allowed),
        )

    def container_env(self, gateway: Gateway | None) -> dict[str, str]:
        """Environment for setup commands: the gateway as the proxy, index URLs with no
        secret in them, and every TLS client pointed at the copied CA."""
        env = gateway.container_env() if gateway is not None else {}
        if self.direct and self.proxy:
            for name in ("HTTP_PROXY", "HTTPS_PROXY"):
                env[name] = env[name.lower()] = self.proxy
            env["NO_PROXY"] = env["no_proxy"] = self.no_proxy
        urls, trusted, served = [], list(self.trusted_hosts), 0
        for url in self.index_urls:
            if has_credentials(url):
                if gateway is None:
                    continue  # no gateway, no way to use it without handing over the secret
                url = gateway.index_url(served)
                served += 1
                trusted.append(gateway.bind)
            urls.append(url)
        if urls:
            env["PIP_INDEX_URL"] = urls[0]
        if len(urls) > 1:
            env["PIP_EXTRA_INDEX_URL"] = " ".join(urls[1:])
        if trusted:
            env["PIP_TRUSTED_HOST"] = " ".join(dict.fromkeys(trusted))
        if self.ca_bundle is not None:
            for name in (*_CA_ENV_VARS, "GIT_SSL_CAINFO", "NODE_EXTRA_CA_CERTS"):
                env[name] = CONTAINER_CA_PATH
        return env

    def host_env(self) -> dict[str, str]:
        """Variables for a process on this machine (pip in a chroot while bootstrapping):
        the host's own settings as they are, for the host's own network."""
        env = {}
        if self.proxy:
            for name in ("HTTP_PROXY", "HTTPS_PROXY"):
                env[name] = env[name.lower()] = self.proxy
            env["NO_PROXY"] = env["no_proxy"] = self.no_proxy
        if self.index_urls:
            env["PIP_INDEX_URL"] = self.index_urls[0]
        if len(self.index_urls) > 1:
            env["PIP_EXTRA_INDEX_URL"] = " ".join(self.index_urls[1:])
        if self.trusted_hosts:
            env["PIP_TRUSTED_HOST"] = " ".join(self.trusted_hosts)
        return env

    def cache_relevant(self) -> dict[str, str]:
        """The settings that change what gets installed (indexes), not how it travels;
        credentials are left out of the key."""
        return {"indexes": " ".join(_without_credentials(u) for u in self.index_urls)}


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    if not parts.username:
        return url
    netloc = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
    return parts._replace(netloc=netloc).geturl()


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
    proxy = next(
        (
            os.environ.get(n) or os.environ.get(n.lower())
            for n in _PROXY_VARS
            if os.environ.get(n) or os.environ.get(n.lower())
        ),
        None,
    )
    no_proxy = os.environ.get("NO_PROXY") or os.environ.get("no_proxy") or ""
    pip = _host_pip_settings()
    index = pip.get("index-url", "")
    extra = pip.get("extra-index-url", "")
    trusted = pip.get("trusted-host", "")
    ca: str | None = pip.get("cert")
    for name in _CA_ENV_VARS:
        ca = ca or os.environ.get(name)

    proxy = overrides.get("https_proxy") or overrides.get("http_proxy") or proxy
    no_proxy = overrides.get("no_proxy", no_proxy)
    index = overrides.get("index_url", index)
    extra = overrides.get("extra_index_url", extra)
    trusted = overrides.get("trusted_host", trusted)
    ca = overrides.get("ca_bundle", ca)

    main, extras = _reachable_urls(index, notes)[:1], _reachable_urls(extra, notes)
    if extras and not main:
        main = ["https://pypi.org/simple"]  # pip's default, stated so extras stay extras
    urls = main + extras
    if any(has_credentials(u) for u in urls) or (proxy and has_credentials(proxy)):
        notes.append(
            "credentials in the proxy or index settings stay on this machine: setup reaches "
            "them through verifix's setup gateway"
        )
    ca_path = Path(ca).expanduser() if ca else None
    if ca_path is not None and not ca_path.is_file():
        notes.append(f"CA bundle {ca_path} does not exist; containers use their own CAs")
        ca_path = None
    return SetupNetwork(
        proxy=proxy,
        no_proxy=no_proxy,
        index_urls=tuple(urls),
        trusted_hosts=tuple(trusted.split()),
        ca_bundle=ca_path,
        notes=tuple(notes),
    )


def on_engine(
    overrides: Mapping[str, str], engine: Mapping[str, str], host: EngineHost
) -> SetupNetwork:
    """Setup's settings for an engine on another machine: the configured ``proxy`` table
    (its ``ca_bundle`` a file on this machine, copied in), else the engine's own proxy;
    nothing of this machine's environment or pip configuration, which describe another
    network (this machine's CA bundle alone would make pip distrust every other site).

    There is no gateway to keep a secret out of setup, so a configured proxy or index with
    credentials is refused; an engine's proxy with credentials (``docker info`` masks them)
    is left out, with a note.
    """
    notes = [
        f"the engine is on another machine ({host.why}): setup uses that machine's network, "
        "not verifix's setup gateway"
    ]
    for key in ("http_proxy", "https_proxy", "index_url", "extra_index_url"):
        if any(has_credentials(url) for url in overrides.get(key, "").split()):
            raise UsageError(
                f"[sandbox] proxy {key} holds credentials, and setup on a remote engine "
                f"({host.url}) has no gateway to keep them out of the build: use one that "
                f"needs none on the engine's network, or a local engine"
            )
    settings = dict(overrides)
    own = engine.get("https_proxy") or engine.get("http_proxy")
    if own and not ({"https_proxy", "http_proxy"} & set(overrides)):
        if has_credentials(own):
            notes.append(
                f"the engine's proxy {_without_credentials(own)} needs credentials, which "
                "verifix does not hand to setup: set [sandbox] proxy to one that needs none"
            )
        else:
            settings["https_proxy"] = own
            settings.setdefault("no_proxy", engine.get("no_proxy", ""))
    proxy = settings.get("https_proxy") or settings.get("http_proxy")
    main = _reachable_urls(settings.get("index_url", ""), notes)[:1]
    extras = _reachable_urls(settings.get("extra_index_url", ""), notes)
    if extras and not main:
        main = ["https://pypi.org/simple"]
    ca = settings.get("ca_bundle")
    ca_path = Path(ca).expanduser() if ca else None
    if ca_path is not None and not ca_path.is_file():
        raise UsageError(
            f"[sandbox] proxy ca_bundle {ca_path} is not a file on this machine (verifix "
            "reads it here and copies it into setup on the engine)"
        )
    return SetupNetwork(
        proxy=proxy,
        no_proxy=settings.get("no_proxy", ""),
        index_urls=tuple(main + extras),
        trusted_hosts=tuple(settings.get("trusted_host", "").split()),
        ca_bundle=ca_path,
        notes=tuple(notes),
        direct=True,
    )
