"""Argo's web UI as a user reads it: `argo server` of the UI-embedding build, driven in headless
Chromium (tests/cluster/chromium.py). Used on workflows stored with statuses built from the rendered
manifests (tests/test_argo_ui.py) and on the real cluster's workflows (tests/test_e2e_cluster.py).
"""

from __future__ import annotations

import ipaddress
import json
import re
import urllib.error
import urllib.request
from pathlib import Path

import yaml
from kubernetes import client

from pixelgate.workflows.render.common import LABEL_HASH, LABEL_KIND, LABEL_NAME, LABEL_VERSION
from tests.cluster import tools
from tests.cluster.chromium import Chromium, Page, read_png
from tests.cluster.kube import KubeCluster
from tests.cluster.tools import ServerProcess
from tests.fake_argo import task_templates

WIDTH, HEIGHT = 1920, 1080

# A returning user: the first-time-user, feedback and new-version modals (ui/src/modals/modal-switch.tsx,
# localStorage scope "modal") are already dismissed, so they cover nothing on the screenshots.
DISMISS_MODALS = """
localStorage.setItem('modal/ftu', JSON.stringify('dismissed'));
localStorage.setItem('modal/feedback', JSON.stringify(Date.now() + 365 * 24 * 3600 * 1000));
localStorage.setItem('modal/version', JSON.stringify(%s));
"""

# The list's extra columns (workflow-controller-configmap `columns`): pixelgate's labels.
COLUMNS = [("Kind", LABEL_KIND), ("Resource", LABEL_NAME)]

# Each row of the list: its name, its cells by column heading and, once its drawer is open (SHOW),
# the labels the drawer lists. textContent, not innerText: the headings are upper-cased by CSS.
LIST_ROWS = """
(() => {
  const cells = el => Array.from(el.querySelectorAll(':scope > .columns')).map(c => c.textContent.trim());
  const head = document.querySelector('.argo-table-list__head > .row');
  const headings = head ? cells(head) : [];
  return Array.from(document.querySelectorAll('.workflows-list__row-container')).map(row => ({
    name: (row.querySelector('.wf-rows-name') || {textContent: ''}).textContent.trim(),
    cells: Object.fromEntries(
      cells(row.querySelector('.argo-table-list__row > .row')).map((cell, i) => [headings[i], cell])),
    labels: Array.from(row.querySelectorAll('.workflow-drawer__labels--list .wf-row-labels .tag'))
      .map(tag => [tag.querySelector('.key').textContent.trim(), tag.querySelector('.value').textContent.trim()]),
  }));
})()
"""

# The labels of the DAG graph's nodes, as drawn (text.node-label, split over tspans by the UI).
GRAPH_LABELS = "Array.from(document.querySelectorAll('svg text.node-label')).map(t => t.textContent)"


def check_ui(binary: Path, kube: KubeCluster, ns: str, manifests: list[dict], tmp_path: Path, *, exact: bool) -> None:
    """Serve the UI for ``ns`` (which holds exactly the workflows ``manifests``) and check its list
    and each workflow's page. ``exact``: each step is one node of the graph (statuses built from the
    manifests); a real run's graph also draws retry nodes and one node per fan-out item.
    """
    server, url = _argo_server(binary, kube, ns, tmp_path)
    try:
        # The UI itself, not the stub's empty answer: index.html and the bundle it loads.
        ctype, index = _get(f"{url}/workflows/{ns}")
        assert ctype.startswith("text/html") and b'<base href="/">' in index, index[:500]
        bundle = re.search(rb'src="(main\.[0-9a-f]+\.js)"', index)
        assert bundle, index[:2000]
        ctype, js = _get(f"{url}/{bundle.group(1).decode()}")
        assert "javascript" in ctype and len(js) > 500_000, (ctype, len(js))
        # The API the UI reads sees the workflows.
        _, listed = _get(f"{url}/api/v1/workflows/{ns}")
        assert sorted(w["metadata"]["name"] for w in json.loads(listed)["items"]) == sorted(
            m["metadata"]["name"] for m in manifests
        )

        version = json.loads(_get(f"{url}/api/v1/version")[1])["version"]
        major_minor = version.rsplit(".", 1)[0] if "." in version else version
        with Chromium(tmp_path / "chromium", WIDTH, HEIGHT).start() as browser:

            def tab() -> Page:  # one per page checked: each holds its own event streams open
                page = browser.new_page()
                page.on_new_document(DISMISS_MODALS % json.dumps(major_minor))
                return page

            page = tab()
            _check_list(page, url, ns, manifests, tmp_path)
            page.close()
            for manifest in manifests:
                page = tab()
                _check_workflow_page(page, url, ns, manifest, tmp_path, exact)
                page.close()
            # The UI (built with the registry's argo-ui, not upstream's commit) ran without an
            # uncaught exception or a console error on any of the pages.
            errors = browser.events("Runtime.exceptionThrown")
            errors += [e for e in browser.events("Runtime.consoleAPICalled") if e.get("type") == "error"]
            assert not errors, f"the UI reported errors: {json.dumps(errors)[:3000]}"
    finally:
        server.stop()


def _argo_server(binary: Path, kube: KubeCluster, ns: str, workdir: Path) -> tuple[ServerProcess, str]:
    """`argo server` installed in ``ns``: it reads its configuration from the namespace's
    workflow-controller-configmap (and refuses to start without one)."""
    config = {"columns": yaml.safe_dump([{"name": n, "type": "label", "key": k} for n, k in COLUMNS])}
    with kube.api_client() as api:
        client.CoreV1Api(api).create_namespaced_config_map(
            ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="workflow-controller-configmap"), data=config)
        )

    def attempt() -> tuple[ServerProcess, str]:
        port = tools.free_port()
        url = f"http://127.0.0.1:{port}"
        server = ServerProcess(
            "argo-server",
            [binary, "server", "--auth-mode=server", "--secure=false", f"--port={port}", f"--namespace={ns}"],
            workdir / "argo-server.log",
            # PIXELGATE_ARGO_SERVER_HOST: our build's loopback-only listener (argo-ui/listen-host.patch);
            # upstream's listens on every interface, and this one lets anyone act as the admin.
            env={"KUBECONFIG": str(kube.kubeconfig), "PIXELGATE_ARGO_SERVER_HOST": "127.0.0.1"},
        )
        # Ready when every API the pages call answers: the server's HTTP gateway dials its gRPC
        # services (one connection each) before it listens, so each comes up on its own retry.
        apis = [f"{url}/api/v1/{path}" for path in ("version", "info", "userinfo")]
        apis += [f"{url}/api/v1/{kind}/{ns}" for kind in ("workflows", "workflow-templates", "cron-workflows")]
        try:
            server.wait_ready(lambda: all(urllib.request.urlopen(api, timeout=5).status == 200 for api in apis))
            assert _listening(port) == {"127.0.0.1"}, f"argo server listens on {_listening(port)}"
        except BaseException:
            server.stop()
            raise
        return server, url

    return tools.start_with_retries(attempt)


def _listening(port: int) -> set[str]:
    """The local addresses with a TCP socket listening on ``port`` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                raw = bytes.fromhex(address)
                # the kernel prints each 32-bit word in host (little-endian) order
                words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
                found.add(str(ipaddress.ip_address(words)))
    return found


def _get(url: str) -> tuple[str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.headers.get("Content-Type", ""), resp.read()
    except urllib.error.HTTPError as err:
        raise AssertionError(f"GET {url}: {err.code} {err.reason}: {err.read()[:2000]!r}") from err


def _check_screenshot(data: bytes, path: Path) -> None:
    """A real picture of the page: a valid PNG of the viewport, many colours, no colour covering it."""
    assert path.is_file() and path.read_bytes() == data
    assert len(data) > 20_000, f"{path}: only {len(data)} bytes"
    png = read_png(data)
    assert (png.width, png.height) == (WIDTH, HEIGHT), f"{path}: {png.width}x{png.height}"
    counts = png.pixel_counts()
    top_colour, top = counts.most_common(1)[0]
    assert len(counts) >= 100, f"{path}: only {len(counts)} colours"
    assert top / (png.width * png.height) < 0.9, f"{path}: colour {top_colour.hex()} covers {top} pixels"


def _settled(page: Page) -> None:
    """Every panel of the page has its data (no loader placeholder left, none failed), and no modal
    covers it: what the screenshot shows is the page as a user reads it."""
    page.wait_for(
        "!document.querySelector('.mockup-list') && !document.body.textContent.includes('Loading...')",
        what="every panel to load",
    )
    assert "Failed to load data" not in page.evaluate("document.body.textContent")
    assert page.evaluate("document.querySelectorAll('.modal').length") == 0, "a modal covers the page"


def _check_list(page: Page, url: str, ns: str, manifests: list[dict], tmp_path: Path) -> None:
    names = sorted(m["metadata"]["name"] for m in manifests)
    page.navigate(f"{url}/workflows/{ns}")
    rows = page.wait_for(
        LIST_ROWS,
        lambda rows: sorted(row["name"] for row in rows) == names,
        what=f"the list to show exactly {names}",
    )
    for row in rows:
        manifest = next(m for m in manifests if m["metadata"]["name"] == row["name"])
        want = {heading: manifest["metadata"]["labels"][key] for heading, key in COLUMNS}
        assert want.items() <= row["cells"].items(), f"{row['name']}: the row's cells are {row['cells']}"
    # Open every row's drawer (its SHOW toggle), where the UI lists the workflow's labels.
    page.evaluate(
        "document.querySelectorAll('.workflows-list__row-container .workflows-row__action--show')"
        ".forEach(el => el.click())"
    )
    rows = page.wait_for(LIST_ROWS, lambda rows: all(row["labels"] for row in rows), what="every row's labels")
    shown = {row["name"]: dict(row["labels"]) for row in rows}
    for manifest in manifests:
        labels = manifest["metadata"]["labels"]
        name = manifest["metadata"]["name"]
        # The drawer lists exactly the workflow's labels, among them the four pixelgate's renderer
        # sets (workflows/render/common.py).
        assert {LABEL_KIND, LABEL_NAME, LABEL_HASH, LABEL_VERSION} <= labels.keys()
        assert shown[name] == labels, f"{name}: the UI lists {shown[name]}, the workflow has {labels}"
    text = page.evaluate("document.body.innerText")
    for manifest in manifests:
        assert manifest["metadata"]["name"] in text
        for key, value in manifest["metadata"]["labels"].items():
            assert key in text and value in text, f"{key}={value} is not on the page"
    _settled(page)
    path = tmp_path / "workflow-list.png"
    _check_screenshot(page.screenshot(path), path)


def _check_workflow_page(page: Page, url: str, ns: str, manifest: dict, tmp_path: Path, exact: bool) -> None:
    name = manifest["metadata"]["name"]
    tasks = list(task_templates(manifest))  # the DAG's task names, as rendered
    page.navigate(f"{url}/workflows/{ns}/{name}")

    def drawn(label: str, task: str) -> bool:  # a fan-out task's nodes are drawn as `task(i:item)`
        return label == task or label.startswith(f"{task}(")

    labels = page.wait_for(
        GRAPH_LABELS,
        lambda labels: all(any(drawn(label, task) for label in labels) for task in tasks),
        what=f"the graph of {name} to draw its steps {tasks}",
    )
    # One node per step (a fan-out's single item included), and the DAG's own node.
    assert not exact or len(labels) == len(tasks) + 1, f"the graph of {name} draws {labels}, its steps are {tasks}"
    assert name in page.evaluate("document.body.innerText")
    _settled(page)
    path = tmp_path / f"workflow-{name}.png"
    _check_screenshot(page.screenshot(path), path)
