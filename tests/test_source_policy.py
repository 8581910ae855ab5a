"""The source policy (workflows/source_policy.py): what a DatasetFamily's ``source.uri`` may name.

As a hostile author would try it: the step's own environment and the pod's ServiceAccount token
as files, symlinks and ``..`` out of an allowed folder, a cloud metadata URL directly and through a
redirect from a server that is allowed, rclone backends made up on the fly. Each is refused before
anything is read, with a message naming the rule; the store keeps nothing of it.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from pixelgate.operator.config import OperatorConfig
from pixelgate.workflows import source_policy
from pixelgate.workflows.cli import main
from pixelgate.workflows.source_policy import SourceRefused
from pixelgate.workflows.steps.ingest.sources import resolve_source


@pytest.fixture(autouse=True)
def no_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    """``pixelgate run``'s default: none of the operator's variables set."""
    for name in (source_policy.ROOTS_ENV, source_policy.NETWORKS_ENV, source_policy.REMOTES_ENV):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    "uri",
    ["/proc/self/environ", "file:///proc/self/environ", "/var/run/secrets/kubernetes.io/serviceaccount/token"],
)
def test_system_files_are_never_sources(uri: str) -> None:
    with pytest.raises(SourceRefused, match="system file"):
        resolve_source(uri, None)


def test_a_symlink_or_dotdot_to_a_system_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "data.jsonl").symlink_to("/proc/self/environ")
    with pytest.raises(SourceRefused, match="system file"):
        resolve_source("data.jsonl", tmp_path)
    with pytest.raises(SourceRefused, match="system file"):
        resolve_source("*.jsonl", tmp_path)  # found by a glob, checked as a file too
    with pytest.raises(SourceRefused, match="system file"):
        resolve_source(f"{tmp_path}/../../../../../../../proc/self/environ", None)


def test_allowed_roots_confine_local_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inside, outside = tmp_path / "mounted", tmp_path / "elsewhere"
    inside.mkdir(), outside.mkdir()
    (inside / "a.jsonl").write_text("{}\n")
    (outside / "b.jsonl").write_text("{}\n")
    (inside / "escape.jsonl").symlink_to(outside / "b.jsonl")
    monkeypatch.setenv(source_policy.ROOTS_ENV, "")  # what the operator sets by default
    with pytest.raises(SourceRefused, match=r"outside the folders .*none on this cluster.*allowedSourceRoots"):
        resolve_source(str(inside / "a.jsonl"), None)
    monkeypatch.setenv(source_policy.ROOTS_ENV, str(inside))
    assert [f.name for f in resolve_source(str(inside / "a.jsonl"), None)] == ["a.jsonl"]
    for uri in (str(outside / "b.jsonl"), str(inside / "escape.jsonl"), f"{inside}/../elsewhere/b.jsonl"):
        with pytest.raises(SourceRefused, match="outside the folders"):
            resolve_source(uri, None)


@pytest.mark.parametrize(
    "uri",
    [
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://[fe80::1]/x.jsonl",
        "http://[::ffff:169.254.169.254]/x.jsonl",
        "http://[fd00:ec2::254]/latest/meta-data/",
    ],
)
def test_metadata_and_link_local_urls_are_refused_without_a_request(uri: str) -> None:
    with pytest.raises(SourceRefused, match="link-local|metadata"):
        resolve_source(uri, None)


class _Server:
    """A loopback http server: ``/data.jsonl`` is a record, ``/moved`` redirects to ``target``."""

    def __init__(self, target: str):
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_HEAD(self) -> None:  # noqa: N802 (http.server's naming)
                self._answer(head=True)

            def do_GET(self) -> None:  # noqa: N802
                self._answer(head=False)

            def _answer(self, head: bool) -> None:
                outer.requests.append(self.path)
                if self.path == "/moved":
                    self.send_response(302)
                    self.send_header("Location", outer.target)
                    self.end_headers()
                    return
                body = b'{"messages": []}\n'
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if not head:
                    self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.target = target
        self.requests: list[str] = []
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def server() -> Iterator[_Server]:
    srv = _Server("http://169.254.169.254/latest/meta-data/")
    yield srv
    srv.httpd.shutdown()


def test_a_redirect_to_the_metadata_service_is_refused(server: _Server) -> None:
    assert resolve_source(f"{server.url}/data.jsonl", None)[0].name == "data.jsonl"  # loopback: allowed locally
    with pytest.raises(SourceRefused, match="169.254.169.254.*link-local"):
        resolve_source(f"{server.url}/moved", None)
    assert server.requests[-1] == "/moved"  # refused at the redirect, never followed


def test_on_a_cluster_only_public_addresses_and_allowed_networks(server: _Server, monkeypatch) -> None:
    monkeypatch.setenv(source_policy.NETWORKS_ENV, "")  # the operator's default
    with pytest.raises(SourceRefused, match="not a public address.*allowedSourceNetworks"):
        resolve_source(f"{server.url}/data.jsonl", None)
    assert server.requests == []
    monkeypatch.setenv(source_policy.NETWORKS_ENV, "10.0.0.0/8, 127.0.0.0/8")
    assert resolve_source(f"{server.url}/data.jsonl", None)[0].name == "data.jsonl"


@pytest.mark.parametrize(
    "uri",
    [
        "rclone://:s3,provider=Minio,endpoint=http://169.254.169.254:bucket/x.jsonl",
        "rclone://:local:/proc/self/environ",
        "rclone://datasets,endpoint=http://attacker.example:esconv/a.jsonl",
    ],
)
def test_rclone_backends_made_up_in_the_uri_are_refused(uri: str) -> None:
    with pytest.raises(SourceRefused, match="on-the-fly backends|connection-string overrides"):
        resolve_source(uri, None)


def test_rclone_remotes_can_be_limited(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(source_policy.REMOTES_ENV, "datasets")
    with pytest.raises(SourceRefused, match="not one of the allowed remotes"):
        resolve_source("rclone://other:esconv/a.jsonl", None)


@pytest.mark.parametrize(
    ("uri", "message"),
    [("/proc/self/environ", "system file"), ("http://169.254.169.254/latest/meta-data/x.jsonl", "link-local")],
)
def test_the_step_fails_and_stores_nothing_of_what_it_refused(tmp_path: Path, monkeypatch, uri, message) -> None:
    """``pixelgate run`` of a family reading the step's own environment or the metadata service:
    refused with the rule's message, and no output file anywhere in the store holds a byte of the
    step's environment."""
    canary = "canary-9f3b2a-not-for-the-store"
    monkeypatch.setenv("PIXELGATE_TEST_CANARY", canary)
    manifest = {
        "apiVersion": "pixelgate.dev/v1alpha1",
        "kind": "DatasetFamily",
        "metadata": {"name": "environ"},
        "spec": {
            "source": {"uri": uri, "format": "jsonl"},
            "mapping": {"turns": {"path": "messages"}},
            "license": {"spdx": "MIT", "allowTraining": True},
        },
    }
    path = tmp_path / "family.yaml"
    path.write_text(yaml.safe_dump(manifest))
    store = tmp_path / "store"
    result = CliRunner().invoke(main, ["run", "-f", str(path), "--store", str(store)])
    assert result.exit_code != 0
    assert message in " ".join(result.output.split()), result.output
    assert "Traceback" not in result.output
    for stored in store.rglob("*"):
        if stored.is_file():
            assert canary.encode() not in stored.read_bytes(), stored


def test_the_operator_gives_every_step_the_cluster_policy() -> None:
    env = dict(OperatorConfig(namespaces=("a",)).runtime().env)
    assert env[source_policy.ROOTS_ENV] == "" and env[source_policy.NETWORKS_ENV] == ""
    cfg = OperatorConfig(
        namespaces=("a",), allowed_source_roots=("/data", "/mnt/x"), allowed_source_networks=("10.1.0.0/16",)
    )
    env = dict(cfg.runtime().env)
    assert env[source_policy.ROOTS_ENV] == "/data:/mnt/x" and env[source_policy.NETWORKS_ENV] == "10.1.0.0/16"
    with pytest.raises(ValueError, match="absolute folders"):
        OperatorConfig(namespaces=("a",), allowed_source_roots=("data",))
    with pytest.raises(ValueError, match="not a CIDR"):
        OperatorConfig(namespaces=("a",), allowed_source_networks=("somewhere",))
