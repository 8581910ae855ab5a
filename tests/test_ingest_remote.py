"""Remote sources on real servers: rclone (Debian's package, an ``alias`` remote over a folder,
configured through RCLONE_CONFIG) and https (a loopback ``http.server`` that can drop a
connection mid-body and may or may not honour ``Range``). Checksums and sizes land in stats,
unchanged sources are neither downloaded again nor ingested again by ``pixelgate run``."""

from __future__ import annotations

import hashlib
import http.server
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from pixelgate.workflows.api.dataset_family import DatasetFamilySpec, Pii
from pixelgate.workflows.api.manifests import load_items
from pixelgate.workflows.local.runner import run_resources
from pixelgate.workflows.recordio import iter_records
from pixelgate.workflows.steps.ingest import IngestError, download, ingest_family
from pixelgate.workflows.steps.ingest.sources import fingerprint_source, resolve_source
from pixelgate.workflows.store import LocalStore

REPO = Path(__file__).resolve().parent.parent
ESCONV_MAPPING = {
    "turns": {"path": "dialog", "role": "speaker", "content": "text"},
    "roles": {"usr": "user", "sys": "assistant"},
}


def _spec(uri: str, **source) -> DatasetFamilySpec:
    return DatasetFamilySpec.model_validate(
        {
            "source": {"uri": uri, "format": "jsonl", **source},
            "mapping": ESCONV_MAPPING,
            "license": {"spdx": "CC-BY-NC-4.0", "allowTraining": True},
            "pii": {"entities": []},
        }
    )


def _records(store: LocalStore, family: str) -> list:
    return list(iter_records(store, store.read_json(f"families/{family}/latest.json")["target"] + "/records"))


def _stats(store: LocalStore, family: str) -> dict:
    return store.read_json(store.read_json(f"families/{family}/latest.json")["target"] + "/stats.json")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def esconv_lines(datasets: Path) -> list[bytes]:
    """The first 30 dialogues of ESConv's test split."""
    with open(datasets / "esconv" / "test.jsonl", "rb") as fh:
        return [next(fh) for _ in range(30)]


@pytest.fixture(autouse=True)
def download_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PIXELGATE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "downloads"


# --------------------------------------------------------------------------- rclone


@pytest.fixture
def remote(tmp_path: Path, rclone_bin: Path, esconv_lines: list[bytes], monkeypatch: pytest.MonkeyPatch) -> Path:
    """An rclone ``alias`` remote named ``datasets`` over a temporary folder holding two ESConv slices."""
    folder = tmp_path / "remote"
    (folder / "esconv" / "extra").mkdir(parents=True)
    (folder / "esconv" / "a.jsonl").write_bytes(b"".join(esconv_lines[:10]))
    (folder / "esconv" / "extra" / "b.jsonl").write_bytes(b"".join(esconv_lines[10:25]))
    (folder / "esconv" / "notes.txt").write_text("not matched by the glob")
    conf = tmp_path / "rclone.conf"
    conf.write_text(f"[datasets]\ntype = alias\nremote = {folder}\n")
    monkeypatch.setenv("RCLONE_CONFIG", str(conf))
    return folder


def test_rclone_glob_is_fetched_and_ingested_like_the_local_files(remote: Path, tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    result = ingest_family("esconv-rclone", _spec("rclone://datasets:esconv/*.jsonl"), store)
    assert result.records_out == 25 and result.quarantined == 0
    files = [remote / "esconv" / "a.jsonl", remote / "esconv" / "extra" / "b.jsonl"]
    assert _stats(store, "esconv-rclone")["sources"] == [
        {
            "uri": "rclone://datasets:esconv/a.jsonl",
            "sha256": _sha256(files[0].read_bytes()),
            "size": files[0].stat().st_size,
        },
        {
            "uri": "rclone://datasets:esconv/extra/b.jsonl",
            "sha256": _sha256(files[1].read_bytes()),
            "size": files[1].stat().st_size,
        },
    ]
    records = _records(store, "esconv-rclone")
    assert {r.provenance.source_uri for r in records} == {
        "rclone://datasets:esconv/a.jsonl",
        "rclone://datasets:esconv/extra/b.jsonl",
    }
    by_uri = {s["uri"]: s["sha256"] for s in _stats(store, "esconv-rclone")["sources"]}
    assert all(r.provenance.source_sha256 == by_uri[r.provenance.source_uri] for r in records)
    # the same files read from disk give the same records (ids, texts): only the uri differs
    from_disk = set()
    for i, path in enumerate(files):
        local = LocalStore(tmp_path / f"local-{i}")
        ingest_family("esconv-rclone", _spec(str(path)), local)
        from_disk |= {(r.id, r.content_hash) for r in _records(local, "esconv-rclone")}
    assert {(r.id, r.content_hash) for r in records} == from_disk


def test_rclone_single_file_with_checksum(remote: Path, tmp_path: Path) -> None:
    data = (remote / "esconv" / "a.jsonl").read_bytes()
    store = LocalStore(tmp_path / "store")
    assert ingest_family("a", _spec("rclone://datasets:esconv/a.jsonl", sha256=_sha256(data)), store).records_out == 10
    with pytest.raises(IngestError) as err:
        ingest_family("a", _spec("rclone://datasets:esconv/a.jsonl", sha256="0" * 64), LocalStore(tmp_path / "other"))
    assert err.value.field == "source.sha256"


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        (
            "rclone://nowhere:esconv/a.jsonl",
            r"rclone could not list rclone://nowhere:esconv/a\.jsonl: .*didn't find section in config file",
        ),
        ("rclone://datasets:esconv/missing.jsonl", r"no file matches 'rclone://datasets:esconv/missing\.jsonl'"),
        ("rclone://datasets:nothing-here/*.jsonl", r"no file matches"),
        ("rclone://datasets-without-colon", r"expected rclone://<remote>:<path>"),
    ],
)
def test_rclone_errors_name_the_source_uri_on_one_line(remote: Path, tmp_path: Path, uri: str, message: str) -> None:
    with pytest.raises(IngestError) as err:
        ingest_family("x", _spec(uri), LocalStore(tmp_path / "store"))
    assert err.value.field == "source.uri"
    assert re.search(message, str(err.value)) and "\n" not in str(err.value)


def test_rclone_missing_binary_is_an_ingest_error(
    remote: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(IngestError, match="rclone is not installed") as err:
        ingest_family("x", _spec("rclone://datasets:esconv/a.jsonl"), LocalStore(tmp_path / "store"))
    assert err.value.field == "source.uri"


def test_rclone_fingerprint_changes_with_the_file(remote: Path) -> None:
    before = fingerprint_source("rclone://datasets:esconv/*.jsonl")
    assert [f[0] for f in before] == ["rclone://datasets:esconv/a.jsonl", "rclone://datasets:esconv/extra/b.jsonl"]
    assert fingerprint_source("rclone://datasets:esconv/*.jsonl") == before
    with open(remote / "esconv" / "a.jsonl", "ab") as fh:
        fh.write(b"\n")
    after = fingerprint_source("rclone://datasets:esconv/*.jsonl")
    assert after[1] == before[1] and after[0] != before[0]


def test_the_rclone_example_reads_esconv_through_its_sample_config(
    rclone_bin: Path, datasets: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = (REPO / "examples" / "rclone" / "rclone.conf").read_text()
    if datasets.resolve() != (REPO.parent / "shared" / "datasets").resolve():  # PIXELGATE_DATASETS elsewhere
        conf = conf.replace("remote = ../shared/datasets", f"remote = {datasets}")
    (tmp_path / "rclone.conf").write_text(conf)
    monkeypatch.setenv("RCLONE_CONFIG", str(tmp_path / "rclone.conf"))
    monkeypatch.chdir(REPO)  # the sample's alias path is relative to the repository root
    [(resource, base_dir)] = [
        (i.resource, i.base_dir) for i in load_items([str(REPO / "examples" / "rclone" / "esconv-test.yaml")])
    ]
    store = LocalStore(tmp_path / "store")
    result = ingest_family(resource.name, resource.spec.model_copy(update={"pii": Pii(entities=[])}), store, base_dir)
    raw = (datasets / "esconv" / "test.jsonl").read_bytes()
    assert (
        result.records_out == sum(1 for line in raw.splitlines() if line.strip()) == 195
    )  # SOURCE.md: 195 test dialogues
    assert _stats(store, resource.name)["sources"] == [
        {"uri": "rclone://datasets:esconv/test.jsonl", "sha256": _sha256(raw), "size": len(raw)}
    ]


# --------------------------------------------------------------------------- https


class FileServer:
    """A loopback HTTP server for one file: ETag (when ``etag``), ``Range``/``If-Range`` (when
    ``ranges``), and a connection dropped halfway through the next ``drops`` bodies."""

    PATH = "/data/esconv.jsonl"

    def __init__(self, body: bytes, *, ranges: bool = True, etag: bool = True):
        self.body, self.ranges, self.etag = body, ranges, etag
        self.drops = 0
        self.log: list[dict] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_HEAD(self) -> None:
                outer._serve(self, with_body=False)

            def do_GET(self) -> None:
                outer._serve(self, with_body=True)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{self.PATH}"

    def tag(self) -> str:
        return f'"{_sha256(self.body)[:16]}"'

    def gets(self) -> list[dict]:
        return [entry for entry in self.log if entry["method"] == "GET"]

    def _serve(self, req: http.server.BaseHTTPRequestHandler, with_body: bool) -> None:
        entry = {
            "method": req.command,
            "range": req.headers.get("Range"),
            "if_range": req.headers.get("If-Range"),
            "status": 404,
            "sent": 0,
        }
        self.log.append(entry)
        if req.path != self.PATH:
            req.send_error(404)
            return
        body, start = self.body, 0
        wanted = re.fullmatch(r"bytes=(\d+)-", req.headers.get("Range") or "")
        validator = req.headers.get("If-Range")
        if (
            self.ranges
            and wanted
            and (validator is None or validator in (self.tag() if self.etag else "", "Wed, 01 Jan 2025 00:00:00 GMT"))
        ):
            start = int(wanted.group(1))
        entry["status"] = 206 if start else 200
        req.send_response(entry["status"])
        req.send_header("Content-Length", str(len(body) - start))
        req.send_header("Last-Modified", "Wed, 01 Jan 2025 00:00:00 GMT")
        if self.etag:
            req.send_header("ETag", self.tag())
        if self.ranges:
            req.send_header("Accept-Ranges", "bytes")
        if start:
            req.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        req.end_headers()
        if not with_body:
            return
        chunk = body[start:]
        if self.drops:
            self.drops -= 1
            chunk = chunk[: len(chunk) // 2]
            req.wfile.write(chunk)
            req.wfile.flush()
            req.connection.shutdown(socket.SHUT_RDWR)
            req.close_connection = True
        else:
            req.wfile.write(chunk)
        entry["sent"] = len(chunk)


@pytest.fixture
def serve(esconv_lines: list[bytes]) -> Iterator:
    servers: list[FileServer] = []

    def start(**kwargs) -> FileServer:
        server = FileServer(b"".join(esconv_lines), **kwargs)
        server.thread.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.httpd.shutdown()
        server.httpd.server_close()


def test_https_download_resumes_after_a_dropped_connection(serve, tmp_path: Path) -> None:
    server = serve()
    server.drops = 1
    store = LocalStore(tmp_path / "store")
    result = ingest_family("esconv-http", _spec(server.url, sha256=_sha256(server.body)), store)
    assert result.records_out == 30
    first, second = server.gets()
    half = len(server.body) // 2
    assert (first["status"], first["sent"]) == (200, half)
    assert (second["range"], second["if_range"], second["status"]) == (f"bytes={half}-", server.tag(), 206)
    assert first["sent"] + second["sent"] == len(server.body), "only the missing bytes were sent again"
    assert _stats(store, "esconv-http")["sources"] == [
        {"uri": server.url, "sha256": _sha256(server.body), "size": len(server.body)}
    ]
    assert {r.provenance.ingested_at for r in _records(store, "esconv-http")} == {"2025-01-01T00:00:00Z"}


def test_https_without_range_support_downloads_again_in_full(serve, download_cache: Path) -> None:
    server = serve(ranges=False, etag=False)
    server.drops = 1
    got = download.fetch(server.url, _sha256(server.body))
    assert got.path.read_bytes() == server.body and got.size == len(server.body)
    first, second = server.gets()
    assert (
        second["range"] == f"bytes={len(server.body) // 2}-" and second["if_range"] == "Wed, 01 Jan 2025 00:00:00 GMT"
    )
    assert (second["status"], second["sent"]) == (200, len(server.body)), (
        "the server ignored the range: a full body replaced the part"
    )


def test_a_partial_download_of_an_earlier_run_is_resumed(serve, download_cache: Path) -> None:
    server = serve()
    server.drops = 1
    with pytest.raises(download.DownloadError, match="bytes kept for a resume"):
        download.fetch(server.url, attempts=1)
    [part] = download_cache.glob("*/data.part")
    assert part.stat().st_size == len(server.body) // 2
    got = download.fetch(server.url)
    assert got.path.read_bytes() == server.body and not part.exists()
    assert server.gets()[-1]["range"] == f"bytes={len(server.body) // 2}-" and server.gets()[-1]["status"] == 206


def test_https_checksum_mismatch_fails_and_keeps_nothing(serve, tmp_path: Path, download_cache: Path) -> None:
    server = serve()
    with pytest.raises(IngestError, match="the download was deleted") as err:
        ingest_family("esconv-http", _spec(server.url, sha256="0" * 64), LocalStore(tmp_path / "store"))
    assert err.value.field == "source.sha256"
    assert not list(download_cache.glob("*/data*")), "the bad bytes are not kept"
    assert not LocalStore(tmp_path / "store").exists("families/esconv-http/latest.json")


def test_https_unchanged_source_is_not_downloaded_again(serve, tmp_path: Path) -> None:
    server = serve()
    pinned = _sha256(server.body)
    ingest_family("esconv-http", _spec(server.url), LocalStore(tmp_path / "first"))
    ingest_family("esconv-http", _spec(server.url), LocalStore(tmp_path / "same-etag"))
    ingest_family("esconv-http", _spec(server.url, sha256=pinned), LocalStore(tmp_path / "same-checksum"))
    assert len(server.gets()) == 1, "the later ingests read the download cache"
    server.body = server.body + server.body[:10] + b"\n"  # changed: a new ETag, and a malformed last line
    pinned_again = ingest_family("esconv-http", _spec(server.url, sha256=pinned), LocalStore(tmp_path / "pinned"))
    assert pinned_again.records_out == 30 and len(server.gets()) == 1, "the pinned bytes are still in the cache"
    result = ingest_family("esconv-http", _spec(server.url), LocalStore(tmp_path / "changed"))
    assert result.records_out == 30 and result.quarantined_by_reason == {"malformed_json": 1}
    assert len(server.gets()) == 2, "a new ETag: downloaded again"


def test_https_errors_name_the_source_uri(serve, tmp_path: Path) -> None:
    server = serve()
    with pytest.raises(IngestError, match=r"could not reach http://127\.0\.0\.1:\d+/missing\.jsonl: HTTP 404") as err:
        resolve_source(server.url.replace(FileServer.PATH, "/missing.jsonl"), None)
    assert err.value.field == "source.uri"
    port = server.httpd.server_address[1]
    server.httpd.shutdown()
    server.httpd.server_close()
    with pytest.raises(IngestError, match="could not reach"):
        resolve_source(f"http://127.0.0.1:{port}/data.jsonl", None)


# --------------------------------------------------------------------------- pixelgate run


def _family_manifest(folder: Path, uri: str) -> Path:
    doc = {
        "apiVersion": "pixelgate.dev/v1alpha1",
        "kind": "DatasetFamily",
        "metadata": {"name": "remote-esconv"},
        "spec": _spec(uri).model_dump(mode="json", by_alias=True, exclude_none=True),
    }
    path = folder / "family.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _run_twice_then_change(tmp_path: Path, uri: str, change) -> None:
    manifest = _family_manifest(tmp_path, uri)
    store = LocalStore(tmp_path / "run-store")

    def run():
        report = run_resources(load_items([str(manifest)]), store, workers=1, logs_dir=tmp_path / "logs")
        assert report.ok, [o.status for o in report.outcomes]
        return report.outcomes[0]

    first = run()
    assert first.workflow.cached_nodes == 0 and first.status.records_out == 30
    again = run()
    assert again.workflow.cached_nodes == len(again.workflow.nodes) == 1, "unchanged remote source: a cache hit"
    change()
    third = run()
    assert third.workflow.cached_nodes == 0 and third.status.records_out == 31, (
        "a changed remote source is ingested again"
    )


def test_pixelgate_run_caches_an_unchanged_rclone_source(
    remote: Path, esconv_lines: list[bytes], tmp_path: Path
) -> None:
    def change() -> None:
        with open(remote / "esconv" / "a.jsonl", "ab") as fh:
            fh.write(esconv_lines[29])

    (remote / "esconv" / "a.jsonl").write_bytes(b"".join(esconv_lines[:30]))
    _run_twice_then_change(tmp_path, "rclone://datasets:esconv/a.jsonl", change)


def test_pixelgate_run_caches_an_unchanged_https_source(serve, esconv_lines: list[bytes], tmp_path: Path) -> None:
    server = serve()

    def change() -> None:
        server.body = server.body + esconv_lines[0].replace(
            b'"experience_type"', b'"changed": 1, "experience_type"', 1
        )

    _run_twice_then_change(tmp_path, server.url, change)
    assert len(server.gets()) == 2, "the step downloaded the file once per version"


# --------------------------------------------------------------------------- s3


def test_s3_sizes_in_stats_and_a_fingerprint_that_follows_the_objects(
    s3, esconv_lines: list[bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in s3.env().items():
        monkeypatch.setenv(key, value)
    bucket, client = s3.new_bucket(), s3.client()
    parts = [b"".join(esconv_lines[:5]), b"".join(esconv_lines[5:12])]
    for i, body in enumerate(parts):
        client.put_object(Bucket=bucket, Key=f"raw/part-{i}.jsonl", Body=body)
    client.put_object(Bucket=bucket, Key="raw/other.txt", Body=b"x")
    uri = f"s3://{bucket}/raw/part-*.jsonl"
    store = LocalStore(tmp_path / "store")
    assert ingest_family("s3-esconv", _spec(uri), store).records_out == 12
    assert _stats(store, "s3-esconv")["sources"] == [
        {"uri": f"s3://{bucket}/raw/part-{i}.jsonl", "sha256": _sha256(body), "size": len(body)}
        for i, body in enumerate(parts)
    ]
    before = fingerprint_source(uri)
    assert fingerprint_source(uri) == before and [f[0] for f in before] == [
        f"s3://{bucket}/raw/part-0.jsonl",
        f"s3://{bucket}/raw/part-1.jsonl",
    ]
    client.put_object(Bucket=bucket, Key="raw/part-1.jsonl", Body=parts[1][::-1])  # same size, new content
    after = fingerprint_source(uri)
    assert after[0] == before[0] and after[1] != before[1] and after[1][1] == before[1][1]


def test_s3_errors_name_the_source_uri(s3, esconv_lines: list[bytes], monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in s3.env().items():
        monkeypatch.setenv(key, value)
    with pytest.raises(IngestError) as err:
        resolve_source("s3://no-such-bucket-pixelgate/raw/*.jsonl", None)
    assert err.value.field == "source.uri" and "could not list s3://no-such-bucket-pixelgate/raw/" in str(err.value)
    assert "NoSuchBucket" in str(err.value) and "\n" not in str(err.value)
    # an object deleted between listing and reading
    bucket, client = s3.new_bucket(), s3.client()
    client.put_object(Bucket=bucket, Key="raw/a.jsonl", Body=esconv_lines[0])
    [listed] = resolve_source(f"s3://{bucket}/raw/a.jsonl", None)
    client.delete_object(Bucket=bucket, Key="raw/a.jsonl")
    with pytest.raises(IngestError) as err, listed.fetch():
        pass
    assert err.value.field == "source.uri" and f"could not fetch s3://{bucket}/raw/a.jsonl" in str(err.value)
    # no credentials anywhere in the chain
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    for key in ("AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE"):
        monkeypatch.setenv(key, "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    import boto3

    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # boto3 caches the credentials it found before
    with pytest.raises(IngestError) as err:
        resolve_source(f"s3://{bucket}/raw/*.jsonl", None)
    assert err.value.field == "source.uri" and "Unable to locate credentials" in str(err.value)
