"""Proxy, index and CA pass-through for setup, read from the host's real configuration."""

from __future__ import annotations

from verifix.sandbox.network import CONTAINER_CA_PATH, from_host


def test_host_proxy_pip_config_and_ca_are_carried_over(tmp_path, monkeypatch):
    ca = tmp_path / "corp-ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    conf = tmp_path / "pip.conf"
    conf.write_text(
        "[global]\n"
        "index-url = https://pypi.corp.example/simple\n"
        "extra-index-url = file:///opt/wheels https://mirror.corp.example/simple\n"
        f"cert = {ca}\n"
    )
    monkeypatch.setenv("PIP_CONFIG_FILE", str(conf))
    monkeypatch.setenv("XDG_CONFIG_DIRS", str(tmp_path / "none"))
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("PIP_CERT", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_TRUSTED_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp.example:3128")
    monkeypatch.setenv("no_proxy", "localhost")

    net = from_host()

    assert net.env["HTTPS_PROXY"] == net.env["https_proxy"] == "http://proxy.corp.example:3128"
    assert net.env["NO_PROXY"] == "localhost"
    assert net.env["PIP_INDEX_URL"] == "https://pypi.corp.example/simple"
    assert net.env["PIP_EXTRA_INDEX_URL"] == "https://mirror.corp.example/simple"
    assert any("file:///opt/wheels" in n for n in net.notes)
    assert net.ca_bundle == ca
    env = net.container_env()
    assert env["PIP_CERT"] == env["REQUESTS_CA_BUNDLE"] == CONTAINER_CA_PATH
    assert net.cache_relevant() == {
        "PIP_INDEX_URL": "https://pypi.corp.example/simple",
        "PIP_EXTRA_INDEX_URL": "https://mirror.corp.example/simple",
    }


def test_config_overrides_win(monkeypatch, tmp_path):
    monkeypatch.setenv("HTTP_PROXY", "http://host-proxy:1")
    net = from_host({"http_proxy": "http://cfg-proxy:2", "ca_bundle": str(tmp_path / "missing")})
    assert net.env["HTTP_PROXY"] == "http://cfg-proxy:2"
    assert net.ca_bundle is None
    assert any("does not exist" in n for n in net.notes)
