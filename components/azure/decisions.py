"""Every Azure decision that is not a resource declaration: names, address splits, pool settings.

Pure functions over plain values (no Pulumi import), so tests call them directly and the
components stay thin. Names derive from stable keys (fleet, stack, region, Placement.key), never
from list positions, so reordering the spec never renames or replaces a resource.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import yaml

from components.k8s.devices import TAINT_VALUE, stack_for
from gpufleet.catalog import Capacity, Sku
from gpufleet.clouds.azure import Azure, node_subnet
from gpufleet.errors import DecisionError

if TYPE_CHECKING:
    from pulumi_azure_native.containerservice import (
        MaintenanceWindowArgsDict,
        ManagedClusterAPIServerAccessProfileArgsDict,
    )

# AKS adds this taint to every spot pool itself; declaring it keeps `pulumi up` free of drift.
SPOT_TAINT = "kubernetes.azure.com/scalesetpriority=spot:NoSchedule"
SYSTEM_TAINT = "CriticalAddonsOnly=true:NoSchedule"

LABEL_POOL = "gpufleet.io/pool"
LABEL_ACCELERATOR = "gpufleet.io/accelerator"
LABEL_FLEET = "gpufleet.io/fleet"
LABEL_INTERCONNECT = "gpufleet.io/interconnect"

TAG_FLEET = "gpufleet-fleet"
TAG_STACK = "gpufleet-stack"
TAG_POOL = "gpufleet-pool"
TAG_STORAGE = "gpufleet-storage"

SYSTEM_POOL_NAME = "system"

# Cluster-internal service ranges, tried in order; the first that overlaps no address of the
# fleet wins. AKS refuses 169.254/16, 172.30/16, 172.31/16 and 192.0.2/24, so none is listed.
SERVICE_CIDR_CANDIDATES = ("10.0.0.0/16", "172.16.0.0/16", "192.168.0.0/16", "100.64.0.0/16")

AGENT_POOL_NAME_MAX = 12  # Linux agent pools: 1-12 lowercase letters and digits
STORAGE_ACCOUNT_NAME_MAX = 24  # 3-24 lowercase letters and digits, globally unique
RESOURCE_GROUP_NAME_MAX = 90
CLUSTER_NAME_MAX = 63
DNS_PREFIX_MAX = 54

BLOB_RETENTION_DAYS = 30
_AZURE = Azure()


def _digest(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()


def _alnum(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _bounded(name: str, limit: int, *key: str) -> str:
    """`name` if it fits in `limit`, else its head plus a hash of `key` (stable, still unique)."""
    if len(name) <= limit:
        return name
    suffix = _digest(*key)[:8]
    return f"{name[: limit - len(suffix) - 1].rstrip('-_.')}-{suffix}"


# -- names ---------------------------------------------------------------------------------------


def logical_name(*parts: str) -> str:
    """Pulumi logical name from stable key parts: `azure-swedencentral`, `train-azure-...`."""
    return "-".join(part.replace("/", "-") for part in parts)


def resource_group_name(fleet: str, stack: str, region: str) -> str:
    """One resource group per fleet, stack and region: `rg-<fleet>-<stack>-<region>`."""
    stack_part = re.sub(r"[^A-Za-z0-9._-]", "-", stack)
    return _bounded(
        f"rg-{fleet}-{stack_part}-{region}", RESOURCE_GROUP_NAME_MAX, fleet, stack, region
    )


def cluster_name(fleet: str, stack: str, region: str) -> str:
    """AKS cluster name (1-63 letters, digits, '-', '_'): `aks-<fleet>-<stack>-<region>`."""
    stack_part = re.sub(r"[^A-Za-z0-9_-]", "-", stack)
    return _bounded(f"aks-{fleet}-{stack_part}-{region}", CLUSTER_NAME_MAX, fleet, stack, region)


def node_resource_group(cluster: str) -> str:
    """The resource group AKS fills with the cluster's nodes (and its private DNS zone)."""
    return f"{cluster}-nodes"


def dns_prefix(fleet: str, stack: str, region: str) -> str:
    """API server DNS prefix (1-54 letters, digits, '-', starting and ending alphanumeric)."""
    stack_part = re.sub(r"[^A-Za-z0-9-]", "-", stack)
    return _bounded(f"{fleet}-{stack_part}-{region}", DNS_PREFIX_MAX, fleet, stack, region).strip(
        "-"
    )


def agent_pool_name(placement_key: str, pool: str, suffix: str = "") -> str:
    """Linux agent pool name, <= 12 lowercase alphanumerics starting with a letter.

    Up to 6 letters of the pool name (readable in `kubectl get nodes`) plus 6 hex digits of the
    placement key's hash (unique within the cluster; stable when pools are reordered). The
    extra pools of a placement split to fit (`suffix` `-g2`, ...: gpufleet.nodegroups) hash
    the key with their suffix, so the name stays 12 characters and the first pool's is as
    before.
    """
    head = _alnum(pool)[:6]
    if not head or not head[0].isalpha():
        head = ("p" + head)[:6]
    return f"{head}{_digest(placement_key + suffix)[: AGENT_POOL_NAME_MAX - len(head)]}"


def storage_account_name(fleet: str, stack: str, storage: str, region: str) -> str:
    """Globally unique storage account name, 3-24 lowercase alphanumerics.

    Up to 10 characters of the storage name plus 14 hex digits of (fleet, stack, name, region),
    so two fleets, stacks or regions never claim the same account name.
    """
    head = _alnum(storage)[:10]
    return f"{head}{_digest(fleet, stack, storage, region)[: STORAGE_ACCOUNT_NAME_MAX - len(head)]}"


def container_name(storage: str) -> str:
    """Blob container name (3-63 lowercase letters, digits, single hyphens) from the storage."""
    name = re.sub(r"-{2,}", "-", storage.lower()).strip("-")
    return name if len(name) >= 3 else f"{name}-data"


def role_assignment_name(*key: str) -> str:
    """Role assignments are named by a GUID; derive it from stable keys so it never churns."""
    digest = _digest("role-assignment", *key)[:32]
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


# -- tags and labels -----------------------------------------------------------------------------


def resource_tags(
    fleet: str, stack: str, *, pool: str | None = None, storage: str | None = None
) -> dict[str, str]:
    """Tags on every taggable resource; agent pools add the pool, storage accounts the entry."""
    tags = {TAG_FLEET: fleet, TAG_STACK: stack}
    if pool is not None:
        tags[TAG_POOL] = pool
    if storage is not None:
        tags[TAG_STORAGE] = storage
    return tags


def node_labels(fleet: str, pool: str, accelerator: str, *, rdma: bool) -> dict[str, str]:
    """Kubernetes labels on every node of a GPU agent pool (schedulers select on these)."""
    labels = {LABEL_FLEET: fleet, LABEL_POOL: pool, LABEL_ACCELERATOR: accelerator}
    if rdma:
        labels[LABEL_INTERCONNECT] = "infiniband"
    return labels


def node_taints(capacity: Capacity, family: str = "nvidia") -> list[str]:
    """GPU nodes repel non-GPU pods with their device family's taint (`nvidia.com/gpu=true`,
    `amd.com/gpu=true`: components/k8s/devices.py); spot pools also carry the taint AKS would
    add anyway."""
    gpu = f"{stack_for(family).taint_key}={TAINT_VALUE}:NoSchedule"
    return [gpu, SPOT_TAINT] if capacity == "spot" else [gpu]


# -- maintenance ---------------------------------------------------------------------------------

# The cluster auto-upgrades (channel stable) and upgrades node images (NodeImage); with no window
# AKS does both at any time, draining training nodes mid-run. Both happen only in a weekly window
# (AKS reads the configurations by these names; the auto-upgrade window must be 4 hours or more:
# learn.microsoft.com/azure/aks/planned-maintenance). Sunday from 00:00 UTC.
MAINTENANCE_CONFIGURATIONS = ("aksManagedAutoUpgradeSchedule", "aksManagedNodeOSUpgradeSchedule")
MAINTENANCE_DAY, MAINTENANCE_START, MAINTENANCE_HOURS = "Sunday", "00:00", 4


def maintenance_window() -> MaintenanceWindowArgsDict:
    """The weekly window of both maintenance configurations."""
    return {
        "schedule": {"weekly": {"interval_weeks": 1, "day_of_week": MAINTENANCE_DAY}},
        "duration_hours": MAINTENANCE_HOURS,
        "start_time": MAINTENANCE_START,
        "utc_offset": "+00:00",
    }


# -- pool settings -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScaleSettings:
    """Agent pool size: a fixed `count`, or autoscaling between `min_count` and `max_count`."""

    count: int
    enable_auto_scaling: bool
    min_count: int | None = None
    max_count: int | None = None


def scale_settings(nodes: int, min_nodes: int | None) -> ScaleSettings:
    """Fixed at the planned nodes when the pool has no autoscale; else scale min_nodes..nodes.

    `min_nodes` is the pool's floor; a placement planned below it is capped at its planned nodes
    (AKS refuses minCount > maxCount). The initial count is the floor: the autoscaler adds nodes
    when GPU pods are pending, so no idle GPU is paid for at creation.
    """
    if nodes < 1:
        raise DecisionError("pools", f"a GPU agent pool needs at least 1 planned node (got {nodes})")
    if min_nodes is None:
        return ScaleSettings(count=nodes, enable_auto_scaling=False)
    floor = min(max(min_nodes, 0), nodes)
    return ScaleSettings(count=floor, enable_auto_scaling=True, min_count=floor, max_count=nodes)


@dataclass(frozen=True, slots=True)
class PrioritySettings:
    """VM scale set priority; spot pools evict by deleting and pay at most the on-demand price."""

    scale_set_priority: str
    scale_set_eviction_policy: str | None = None
    spot_max_price: float | None = None


def priority_settings(capacity: Capacity) -> PrioritySettings:
    """Spot: priority Spot, eviction Delete, max price -1 (never evicted for price); else Regular.

    `reserved` runs Regular VMs: Azure reservations are a billing construct, not a VM priority.
    """
    if capacity == "spot":
        return PrioritySettings("Spot", "Delete", -1.0)
    return PrioritySettings("Regular")


@dataclass(frozen=True, slots=True)
class UpgradeSettings:
    max_surge: str
    max_unavailable: str


def upgrade_settings(capacity: Capacity) -> UpgradeSettings | None:
    """Regular GPU pools upgrade one node at a time without a surge node (a surge ND-class VM
    rarely fits the quota); spot pools take none: AKS upgrades them without surge by design."""
    if capacity == "spot":
        return None
    return UpgradeSettings(max_surge="0", max_unavailable="1")


def gpu_instance_profile(mig: str | None, sku: Sku, path: str = "mig") -> str | None:
    """The MIG profile for the agent pool, only on MIG-capable GPUs (A100, H100, ...)."""
    if mig is None:
        return None
    if not sku.mig_capable:
        raise DecisionError(
            path,
            f"MIG profile {mig} needs a MIG-capable GPU (A100, H100, H200, B200); VM size "
            f"{sku.instance_type} has {sku.accelerator}; remove mig or use an A100/H100 pool",
        )
    return mig


def check_interconnect(
    interconnect: str, sku: Sku, known_rdma: Iterable[str], path: str = "interconnect"
) -> None:
    """`interconnect: rdma` on Azure needs an InfiniBand VM size (the `r` sizes)."""
    if interconnect != "rdma" or sku.rdma_interfaces > 0:
        return
    sizes = ", ".join(sorted(known_rdma))
    raise DecisionError(
        path,
        "interconnect rdma needs an InfiniBand-capable Azure VM size; "
        f"{sku.instance_type} has no "
        f"InfiniBand; InfiniBand sizes: {sizes}; use one of them or interconnect: none",
    )


def api_server_access(authorized: Iterable[str]) -> ManagedClusterAPIServerAccessProfileArgsDict:
    """A private API server (private DNS zone managed by AKS); with an allowlist, a public one
    that answers only the listed ranges (AKS adds the cluster's own egress IPs itself)."""
    ranges = list(authorized)
    if ranges:
        return {"enable_private_cluster": False, "authorized_ip_ranges": ranges}
    return {
        "enable_private_cluster": True,
        "enable_private_cluster_public_fqdn": False,
        "private_dns_zone": "system",
    }


# `kubelogin convert-kubeconfig -l azurecli` (github.com/Azure/kubelogin, "convert-kubeconfig"):
# the device-code login AKS hands out cannot run unattended; the Azure CLI login (az login, or
# azure/login with OIDC in CI) can, for the Pulumi provider and for `gpufleet kubeconfig` users.
KUBELOGIN_LOGIN = "azurecli"


def kubelogin_azurecli(kubeconfig: str) -> str:
    """The AKS exec kubeconfig with every kubelogin user converted to the Azure CLI login,
    keeping its --server-id (what `kubelogin convert-kubeconfig -l azurecli` writes)."""
    document = cast(dict[str, Any], yaml.safe_load(kubeconfig) or {})
    for entry in cast(list[dict[str, Any]], document.get("users") or []):
        user = cast(dict[str, Any], entry.get("user") or {})
        command = cast(dict[str, Any], user.get("exec") or {})
        if command.get("command") != "kubelogin":
            continue
        args = [str(a) for a in cast(list[object], command.get("args") or [])]
        server = args[args.index("--server-id") + 1] if "--server-id" in args[:-1] else None
        if server is None:
            raise DecisionError("kubeconfig", "the AKS kubeconfig's kubelogin user has no --server-id")
        command["args"] = ["get-token", "--login", KUBELOGIN_LOGIN, "--server-id", server]
        command.setdefault("interactiveMode", "Never")
    return yaml.safe_dump(document, sort_keys=False)


# -- addresses -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SubnetLayout:
    """The VNet cut in two: nodes get the first half, private endpoints a small block after it."""

    nodes: str
    endpoints: str


def subnet_layout(vnet_cidr: str, path: str = "network.overrides") -> SubnetLayout:
    """Node subnet = first half of the VNet (overlay pods do not use it: one IP per node);
    endpoint subnet = first /24 of the second half (or the whole half when the VNet is small)."""
    vnet = ipaddress.ip_network(vnet_cidr)
    if vnet.prefixlen > 24:
        raise DecisionError(path, f"VNet {vnet_cidr} is too small for AKS; give the region a /24 or larger")
    nodes = node_subnet(ipaddress.IPv4Network(vnet_cidr))  # what the address plan counts
    rest = list(vnet.subnets(prefixlen_diff=1))[1]
    endpoints = next(rest.subnets(new_prefix=max(rest.prefixlen, 24)))
    return SubnetLayout(str(nodes), str(endpoints))


# The GatewaySubnet of the fleet link's VPN gateway: the VNet's last /27, a fixed place that does
# not move when the node and endpoint subnets change (Azure recommends /27 or larger for it:
# learn.microsoft.com/azure/vpn-gateway/vpn-gateway-about-vpn-gateway-settings#gwsub).
GATEWAY_SUBNET_PREFIX = 27


def gateway_subnet(vnet_cidr: str, path: str = "network.overrides") -> str:
    """The VNet's last /27; DecisionError when the node or endpoint subnet already holds it."""
    vnet = ipaddress.ip_network(vnet_cidr)
    if vnet.prefixlen > GATEWAY_SUBNET_PREFIX:
        raise DecisionError(path, f"VNet {vnet_cidr} is smaller than the /{GATEWAY_SUBNET_PREFIX} GatewaySubnet")
    gateway = list(vnet.subnets(new_prefix=GATEWAY_SUBNET_PREFIX))[-1]
    layout = subnet_layout(vnet_cidr, path)
    taken = [s for s in (layout.nodes, layout.endpoints) if ipaddress.ip_network(s).overlaps(gateway)]
    if taken:
        raise DecisionError(path, (
            f"VNet {vnet_cidr} has no room for the link's GatewaySubnet {gateway} (the {taken[0]} "
            "subnet holds it); give the region a /23 or larger"
        ))
    return str(gateway)


@dataclass(frozen=True, slots=True)
class ServiceNetwork:
    """Kubernetes service range and the cluster DNS address inside it."""

    cidr: str
    dns_service_ip: str


def service_network(avoid: Iterable[str]) -> ServiceNetwork:
    """First candidate service range that overlaps none of `avoid` (VNets, VPCs, pod ranges,
    the supernet); the DNS service IP is the range's 10th address, as AKS does by default."""
    taken = [ipaddress.ip_network(cidr) for cidr in avoid]
    for candidate in SERVICE_CIDR_CANDIDATES:
        network = ipaddress.ip_network(candidate)
        if not any(network.overlaps(other) for other in taken):
            return ServiceNetwork(candidate, str(network.network_address + 10))
    raise DecisionError(
        "network.supernet",
        "no Kubernetes service range is free: every candidate ("
        + ", ".join(SERVICE_CIDR_CANDIDATES)
        + ") overlaps the fleet's address space; move the supernet",
    )


def pod_cidr(region: str, vnet_cidr: str, pod: str | None, others: Iterable[str] = ()) -> str:
    """The plan's overlay pod range for the region, checked against the VNet and other networks."""
    path = f"network.overrides.azure/{region}"
    if pod is None:
        raise DecisionError(path, f"the plan gives azure/{region} no pod CIDR; AKS overlay needs one")
    pods = ipaddress.ip_network(pod)
    for other in (vnet_cidr, *others):
        if pods.overlaps(ipaddress.ip_network(other)):
            raise DecisionError(path, f"pod CIDR {pod} of azure/{region} overlaps {other}")
    return pod


# -- storage -------------------------------------------------------------------------------------


def storage_sku(region: str) -> str:
    """Zone-redundant where the region has availability zones, else locally redundant (the
    cloud model decides, so the cost line prices the SKU declared here)."""
    return _AZURE.storage_sku(region)


# -- role assignments ----------------------------------------------------------------------------
# Built-in role ids, the same GUID in every tenant (learn.microsoft.com/azure/role-based-access-
# control/built-in-roles: networking, storage, containers). "Azure Kubernetes Service RBAC Cluster
# Admin" (manage all resources in the cluster) is the deployer's for the in-cluster layer: with
# Azure RBAC on and local accounts off no other credential exists.
NETWORK_CONTRIBUTOR_ROLE = "4d97b98b-1d4f-4787-a291-c67834d212e7"
RBAC_CLUSTER_ADMIN_ROLE = "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b"
BLOB_READER_ROLE = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"  # Storage Blob Data Reader
BLOB_CONTRIBUTOR_ROLE = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"  # Storage Blob Data Contributor


def role_definition_id(subscription_id: str, role: str) -> str:
    """A built-in role as a role assignment names it (its id under the subscription)."""
    return f"/subscriptions/{subscription_id}/providers/Microsoft.Authorization/roleDefinitions/{role}"


def sync_role(*, writer: bool) -> str:
    """A sync job's data role: Reader on the home it copies from, Contributor on the copy only."""
    return BLOB_CONTRIBUTOR_ROLE if writer else BLOB_READER_ROLE


def container_scope(account_id: str, container: str) -> str:
    """One blob container of one account: the narrowest scope a data role can have."""
    return f"{account_id}/blobServices/default/containers/{container}"
