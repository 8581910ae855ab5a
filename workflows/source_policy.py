"""Where a source may be read from: checked before anything is listed or fetched.

The author of a DatasetFamily chooses ``source.uri``, and the ingest step reads it with the store's
credentials and the pod's ServiceAccount in reach. So, whoever runs the step:

* **local paths** never name the kernel's or the container runtime's files (``/proc``, ``/sys``,
  ``/dev``, ``/run/secrets``, ``/var/run/secrets``), after symlinks are resolved; where
  ``PIXELGATE_SOURCE_ROOTS`` is set (colon-separated folders), only files under one of them. The
  operator sets it on every step, empty unless the chart's ``workflows.allowedSourceRoots`` names
  some, so a cluster reads no local file by default; ``pixelgate run`` leaves it unset.
* **http(s)** never reaches a link-local address (cloud metadata services such as
  169.254.169.254), checked for every address the host resolves to and again at every redirect;
  where ``PIXELGATE_SOURCE_NETWORKS`` is set (comma-separated CIDRs), only public addresses and
  those networks: the operator sets it (``workflows.allowedSourceNetworks``, empty by default), so
  on a cluster loopback, private and cluster-internal ranges are refused too.
* **rclone** names a remote of the mounted config file, never an on-the-fly backend
  (``rclone://:s3,…:``) or a connection-string override (``rclone://remote,opt=value:``) that would
  replace the configured credentials or endpoint; where ``PIXELGATE_RCLONE_REMOTES`` is set, only
  those remotes.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import urllib.parse
from pathlib import Path

from .steps.registry import StepInputError

ROOTS_ENV = "PIXELGATE_SOURCE_ROOTS"
NETWORKS_ENV = "PIXELGATE_SOURCE_NETWORKS"
REMOTES_ENV = "PIXELGATE_RCLONE_REMOTES"
SYSTEM_PATHS = tuple(Path(p) for p in ("/proc", "/sys", "/dev", "/run/secrets", "/var/run/secrets"))
_METADATA_V6 = ipaddress.ip_network("fd00:ec2::254/128")  # AWS's IPv6 metadata service (not link-local)


class SourceRefused(StepInputError):
    """A source the policy does not allow; the message says which rule and how to change it."""

    def __init__(self, message: str):
        super().__init__("source.uri", message)


def _under(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def check_path(path: Path) -> None:
    """Refuse a local file outside the allowed roots or inside the system's own folders."""
    real = path.resolve()
    if any(_under(real, system) for system in SYSTEM_PATHS):
        raise SourceRefused(f"{path} is a system file ({real}); sources never read /proc, /sys, /dev or secrets")
    roots = os.environ.get(ROOTS_ENV)
    if roots is None:
        return
    allowed = [Path(r).resolve() for r in roots.split(":") if r]
    if not any(_under(real, root) for root in allowed):
        where = ", ".join(map(str, allowed)) or "none on this cluster"
        raise SourceRefused(
            f"{path} is outside the folders sources may be read from ({where}); use s3://, https:// or "
            "rclone://, or ask for the folder in the chart's workflows.allowedSourceRoots"
        )


def _refused_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if address.is_link_local or address in _METADATA_V6:
        return "a link-local address (cloud metadata services live there)"
    networks = os.environ.get(NETWORKS_ENV)
    if networks is None or address.is_global:
        return None
    allowed = [ipaddress.ip_network(n.strip(), strict=False) for n in networks.split(",") if n.strip()]
    if any(address in network for network in allowed):
        return None
    return (
        "not a public address (loopback, private or cluster-internal); "
        "allow its network in the chart's workflows.allowedSourceNetworks"
    )


def check_url(url: str) -> None:
    """Refuse an http(s) URL whose host resolves to an address the policy does not allow."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SourceRefused(f"{url}: expected an http(s) URL with a host")
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    except socket.gaierror:
        return  # unresolvable: the request itself fails and says so
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        why = _refused_address(address)
        if why:
            raise SourceRefused(f"{url}: {parts.hostname} resolves to {address}, {why}")


def check_remote(remote: str) -> None:
    """Refuse an rclone remote that is not a plain name of the config file (or not allowed)."""
    if not remote or remote.startswith(":") or "," in remote:
        raise SourceRefused(
            f"rclone remote {remote!r}: only remotes of the mounted rclone config are read; on-the-fly "
            "backends (':backend:') and connection-string overrides ('remote,option=value:') are refused"
        )
    allowed = os.environ.get(REMOTES_ENV)
    if allowed is not None and remote not in [r for r in allowed.split(",") if r]:
        raise SourceRefused(f"rclone remote {remote!r} is not one of the allowed remotes ({allowed or 'none'})")
