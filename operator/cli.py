"""``pixelgate operator``: run the kopf operator (found by ``pixelgate`` through the ``pixelgate.cli`` entry point)."""

from __future__ import annotations

import click

from pixelgate.workflows.render import DEFAULT_IMAGE, DEFAULT_TRAIN_IMAGE


@click.command("operator")
@click.option(
    "-n",
    "--namespace",
    "namespaces",
    multiple=True,
    help="Watch this namespace (repeatable); a glob like 'team-*' is allowed.",
)
@click.option(
    "-A",
    "--all-namespaces",
    "clusterwide",
    is_flag=True,
    help="Watch every namespace (needs the ClusterRole bound cluster-wide).",
)
@click.option(
    "--store",
    "store_uri",
    envvar="PIXELGATE_STORE",
    required=True,
    help="Store URI the workflows read and write (s3://bucket/prefix).",
)
@click.option(
    "--image",
    default=DEFAULT_IMAGE,
    show_default=True,
    envvar="PIXELGATE_IMAGE",
    help="Step image of the rendered workflows.",
)
@click.option(
    "--train-image",
    default=DEFAULT_TRAIN_IMAGE,
    show_default=True,
    envvar="PIXELGATE_TRAIN_IMAGE",
    help="Image of the train and evaluate steps (torch, DeepSpeed).",
)
@click.option(
    "--workflow-service-account",
    default=None,
    envvar="PIXELGATE_WORKFLOW_SERVICE_ACCOUNT",
    help="ServiceAccount the workflow pods run as (the chart's "
    "workflows.serviceAccount.name); default: Argo's default.",
)
@click.option(
    "--step-env",
    multiple=True,
    help="NAME=VALUE set in every workflow step (repeatable), e.g. AWS_ENDPOINT_URL=http://minio:9000.",
)
@click.option(
    "--store-secret",
    default=None,
    envvar="PIXELGATE_STORE_SECRET",
    help="Secret with the store's keys, given to every step as AWS_ACCESS_KEY_ID / "
    "AWS_SECRET_ACCESS_KEY; default: ambient credentials.",
)
@click.option(
    "--store-secret-keys",
    default="AWS_ACCESS_KEY_ID,AWS_SECRET_ACCESS_KEY",
    show_default=True,
    help="The two keys of --store-secret holding the access key id and the secret key.",
)
@click.option(
    "--rclone-secret",
    default=None,
    envvar="PIXELGATE_RCLONE_SECRET",
    help="Secret holding rclone.conf, mounted into the ingest of rclone:// sources (RCLONE_CONFIG points at it).",
)
@click.option(
    "--allowed-source-root",
    "allowed_source_roots",
    multiple=True,
    help="A folder (in the step pods) local source paths may be under (repeatable); default: none, "
    "so a DatasetFamily on this cluster reads no local file.",
)
@click.option(
    "--allowed-source-network",
    "allowed_source_networks",
    multiple=True,
    help="A CIDR network http(s) sources may reach beyond public addresses (repeatable); default: none, "
    "so loopback, private and cluster-internal addresses are refused (link-local always is).",
)
@click.option(
    "--kubeconfig",
    type=click.Path(dir_okay=False),
    default=None,
    help="Kubeconfig; default: in-cluster credentials, else ~/.kube/config.",
)
@click.option("--context", default=None, help="Kubeconfig context.")
@click.option(
    "--standalone", is_flag=True, help="No peering: run even if another replica is active (development only)."
)
@click.option(
    "--peering",
    "peering_name",
    default="pixelgate",
    show_default=True,
    help="KopfPeering object shared by the replicas; one is active.",
)
@click.option(
    "--priority",
    type=int,
    default=0,
    show_default=True,
    help="Peering priority; the highest active replica wins. Replicas given the same one never tie: "
    "each adds a random tie-breaker, so exactly one is active.",
)
@click.option(
    "--liveness",
    "liveness_endpoint",
    default="http://0.0.0.0:8080/healthz",
    show_default=True,
    help="Liveness probe endpoint URL.",
)
@click.option(
    "--metrics-port", type=int, default=9090, show_default=True, help="Port of the Prometheus /metrics endpoint."
)
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def operator_command(verbose: bool, **options: object) -> None:
    """Reconcile DatasetFamily, CompileRun, TrainingRun and GateReview resources into Argo Workflows."""
    import kopf

    from .config import OperatorConfig
    from .main import run

    options["namespaces"] = tuple(options["namespaces"])  # type: ignore[arg-type]
    for name in ("step_env", "allowed_source_roots", "allowed_source_networks"):
        options[name] = tuple(options[name])  # type: ignore[arg-type]
    try:
        cfg = OperatorConfig(**options)  # type: ignore[arg-type]
    except ValueError as err:
        raise click.UsageError(str(err)) from None
    kopf.configure(verbose=verbose)
    run(cfg)
