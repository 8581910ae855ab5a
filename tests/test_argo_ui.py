"""Argo's web UI shows pixelgate's workflows: the real UI, served by a real `argo server`, in Chromium.

`argo-ui` is the argo CLI with the UI built from Argo's own source and embedded
(tools/testcluster/argo-ui/build.sh). `argo server` runs against the test control plane (no Argo
controller), where the quickstart's `support-chats` DatasetFamily and `quickstart` CompileRun
workflows, rendered by pixelgate, are stored with a status written the way Argo writes it
(tests/fake_argo.py). Headless Chromium opens the workflow list and each workflow's page; the test
reads the rendered page (DOM), takes screenshots and checks they are real pictures.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from kubernetes import client

from pixelgate.workflows.api.manifests import load_items
from pixelgate.workflows.render import render_workflow
from tests.argo_ui_support import check_ui
from tests.cluster.kube import KubeCluster
from tests.fake_argo import task_templates, workflow_status
from tests.operator_support import wait_until

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
QUICKSTART = REPO / "examples" / "quickstart"
STORE = "s3://pixelgate-demo/store"
SHOWN = [("DatasetFamily", "support-chats"), ("CompileRun", "quickstart")]


def _rendered() -> list[dict]:
    wanted = {(item.resource.kind, item.resource.name): item.resource for item in load_items([str(QUICKSTART)])}
    return [render_workflow(wanted[key], store_uri=STORE) for key in SHOWN]


def _install_argo_crds(api: client.ApiClient, argo_crds_dir: Path) -> None:
    """Every CRD of Argo's (the UI also lists templates, cron workflows, ...), as an install has them."""
    ext = client.ApiextensionsV1Api(api)
    docs = [yaml.safe_load(p.read_text()) for p in sorted(argo_crds_dir.glob("argoproj.io_*.yaml"))]
    for doc in docs:
        try:
            ext.create_custom_resource_definition(doc)
        except client.ApiException as err:
            if err.status != 409:  # already there: the same files (tests/operator_support.py installs one)
                raise

    def established() -> bool:
        crds = [ext.read_custom_resource_definition(doc["metadata"]["name"]) for doc in docs]
        return all(
            any(c.type == "Established" and c.status == "True" for c in crd.status.conditions or []) for crd in crds
        )

    wait_until(established, 60, what="Argo's CRDs Established")


def test_the_argo_ui_lists_pixelgate_workflows_with_their_labels_and_steps(
    argo_ui_bin: Path, chromium_bin: Path, kube: KubeCluster, kube_namespace: str, argo_crds_dir: Path, tmp_path: Path
) -> None:
    ns = kube_namespace
    manifests = _rendered()
    with kube.api_client() as api:
        _install_argo_crds(api, argo_crds_dir)
        custom = client.CustomObjectsApi(api)
        for manifest in manifests:
            name = manifest["metadata"]["name"]
            custom.create_namespaced_custom_object("argoproj.io", "v1alpha1", ns, "workflows", manifest)
            # Argo's Workflow CRD has no status subresource: the status is part of the object.
            status = workflow_status(manifest, "Succeeded", dict.fromkeys(task_templates(manifest), "Succeeded"))
            custom.patch_namespaced_custom_object("argoproj.io", "v1alpha1", ns, "workflows", name, {"status": status})

    check_ui(argo_ui_bin, kube, ns, manifests, tmp_path, exact=True)
