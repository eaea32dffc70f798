"""The interface every cloud implements: what the planner, the cost model, the address plan, the
offline engine, the policies and the Pulumi program need to know about one cloud.

One subclass per cloud (`gpufleet/clouds/aws/`, `gpufleet/clouds/azure/`) holds that cloud's
knowledge; the core asks the registry (`gpufleet.clouds`) and never compares cloud names. A new
cloud is one package plus its catalog rows and, for the Pulumi program, a builder the components
map from its name (docs/design.md, "The cloud interface"). Nothing here imports Pulumi or a
cloud SDK, and no model knows its components: the seam runs one way.
"""

from __future__ import annotations

import ipaddress
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from gpufleet.catalog.limits import Limit
from gpufleet.catalog.limits import limit as packaged_limit
from gpufleet.catalog.paths import PathRate, path_rates
from gpufleet.clouds.capabilities import Capabilities
from gpufleet.clouds.declared import DeclaredPool, DeclaredResource, MockArgs, ResidencyJudge

if TYPE_CHECKING:
    from gpufleet.catalog import Capacity, Sku
    from gpufleet.clouds.controls import SecurityControls

Network = ipaddress.IPv4Network
LinkRole = Literal["endpoint", "gateway"]


@dataclass(frozen=True, slots=True)
class FixedCost:
    """A fixed monthly item every region of a cloud pays once it holds a GPU node.

    `resource_type` is the type token that declares it, so the budget policy prices the declared
    resource with the same rate the planner used.
    """

    item: str
    usd_per_hour: float
    count: int
    source: str
    resource_type: str
    also_types: tuple[str, ...] = ()
    """Further type tokens priced at the same rate (e.g. both ends of one peering)."""
    per_cluster: bool = False
    """Paid once per cluster, so again by every cluster a region adds (a control plane), not
    once per region (NAT gateways); docs/design.md, "Several clusters per region"."""

    def prices(self, resource_type: str) -> bool:
        return resource_type == self.resource_type or resource_type in self.also_types


@dataclass(frozen=True, slots=True)
class SystemPool:
    """The non-GPU node pool every cluster runs (CoreDNS, add-ons): sized and priced in one place."""

    instance_type: str
    min_nodes: int
    max_nodes: int
    usd_per_hour: float
    source: str


@dataclass(frozen=True, slots=True)
class StorageRate:
    """$/GB-month of one dataset copy, as the program declares it (product and redundancy)."""

    usd_per_gb_month: float
    product: str
    source: str


@dataclass(frozen=True, slots=True)
class LinkTraits:
    """What one cloud's end of the fleet's private link (`network.interconnect: vpn`) accepts.

    The two ends of a VPN tunnel must agree on its inside /30 and its BGP ASNs, and each cloud
    restricts both: the link planner (gpufleet/interconnect.py) allocates from what every end
    accepts. `tunnel_endpoint` is the end whose VPN service hands out the tunnels' outside
    addresses and takes the first inside address of each /30 (AWS Site-to-Site VPN); the other
    end terminates them on a gateway with its own public IPs (an Azure VPN gateway).
    """

    tunnel_endpoint: bool
    inside_ranges: tuple[Network, ...]
    inside_reserved: tuple[Network, ...]
    reserved_asns: frozenset[int]
    same_cloud_path: str
    """How two regions of this cloud reach each other (e.g. 'transit gateway peering')."""
    cross_cloud_path: str
    """What this end of a cross-cloud pair declares (e.g. '2 VPN connections, 4 tunnels')."""
    usd_per_gb: float
    """Per GB that leaves this cloud over the link (processing + egress): not estimated."""
    usd_per_gb_source: str
    max_tunnels: int | None = None
    """The most tunnels one hub takes (an Azure VPN gateway SKU's S2S limit), None: no limit."""

    @property
    def role(self) -> LinkRole:
        """`endpoint` (hands out tunnel endpoints) or `gateway` (terminates them on its IPs)."""
        return "endpoint" if self.tunnel_endpoint else "gateway"


@dataclass(frozen=True, slots=True)
class LocatedPackage:
    """Another Pulumi package whose resources name a cloud's regions: the inputs on a resource,
    then on its provider, that hold the region (first set wins), and the page that says so."""

    package: str
    resource_keys: tuple[str, ...]
    provider_keys: tuple[str, ...]
    source: str


@dataclass(frozen=True, slots=True)
class AddressBlocks:
    """A region's address space: the VPC/VNet CIDR and, where the cloud uses one, a pod range;
    `pod_blocks` are the blocks a grown network adds for its pods beside its CIDR, per cluster
    and zone in that order (`CloudModel.grown_blocks`; AWS: secondary VPC CIDR blocks)."""

    cidr: Network
    pod_cidr: Network | None = None
    pod_blocks: tuple[Network, ...] = ()


@dataclass(frozen=True, slots=True)
class NodeRange:
    """A range nodes take addresses from, as the cloud lays it out in a region's block.

    `reserved` is what the cloud keeps in every such range; `depth` how many halvings of the
    region's network (VPC/VNet, the `network.overrides` value) give this range and `slot_depth`
    how many of its slot, so a shortfall can name the block sizes that would hold it. A pod
    range outside the slot has neither (None).
    """

    label: str
    cidr: Network
    reserved: int
    depth: int | None
    slot_depth: int | None
    pods: bool = False
    pods_elsewhere: bool = False
    """Its nodes' pods take their addresses from another range (a grown network's pod blocks)."""
    per_cluster: bool = False
    """Every cluster of the region has one of its own (an AKS overlay range, reused by each
    cluster; a grown VPC's pod subnets), so it holds one cluster's nodes, not the region's."""
    cluster: int = 0
    """For a `per_cluster` range: the cluster (from 0) it belongs to; a cluster the layout gives
    no range of its own reuses cluster 0's (the AKS overlay)."""

    @property
    def usable(self) -> int:
        return self.cidr.num_addresses - self.reserved


@dataclass(frozen=True, slots=True)
class DeclaredRange:
    """A declared range and the nodes that can reach it, as the declared resources say:
    `needs` holds (nodes at most, addresses per node or None when unknown) per pool, counted
    under the CNI settings the resources declare (`cni`, for messages)."""

    resource: DeclaredResource
    region: str | None
    node_range: NodeRange
    needs: tuple[tuple[int, int | None], ...]
    cni: str


class CloudModel(ABC):
    """One cloud's knowledge, behind one small interface (see the module docstring)."""

    name: str
    """Registry key: the spec's `clouds.<name>`, the plan's `cloud`, price-book keys."""
    title: str
    """How messages name the cloud (AWS, Azure)."""
    packages: tuple[str, ...]
    """Pulumi packages whose resources this cloud owns (`aws`, `azure-native`)."""
    location_key: str
    """The input that holds a resource's region (`region`, `location`)."""
    region_slots: Mapping[str, int]
    """Region -> its fixed slot of the supernet (gpufleet.ipam): append, never reorder."""
    regional_buckets: frozenset[str] = frozenset()
    """Quota buckets every non-spot node draws on besides its family bucket (Azure `cores`)."""
    buckets_case_insensitive: bool = False
    tag_keys: tuple[str, str]
    """(fleet, stack) tag keys the components set and `required-tags` checks."""
    taggable_types: frozenset[str] = frozenset()
    """Types checked for tags even when the program sets none."""
    untaggable_types: frozenset[str] = frozenset()
    """Types whose schema has no `tags` input: nothing to ask of them."""
    sku_corrections: ClassVar[Mapping[str, tuple[str, int, str]]] = {}
    """instance type -> (field, value, why): known source errors corrected at catalog load."""
    replace_on_change: ClassVar[Mapping[str, tuple[str, ...]]] = {}
    """type token -> input properties whose change makes the provider replace the resource."""
    system_pool: SystemPool
    storage_rate: StorageRate
    live_module: str = ""
    """The module with this cloud's live look-ups (gpufleet.live.QuotaLookup), imported only
    when one runs; empty: no live look-up."""
    api_allowlist_max: int | None = None
    """The most CIDRs the cluster's public API endpoint allowlist takes (None: no known limit)."""
    group_noun: str = "node group"
    """What the cloud calls one node pool of a cluster (EKS node group, AKS agent pool)."""
    limit_keys: ClassVar[Mapping[str, str]] = {}
    """Role -> key in catalog/data/limits.csv of the cluster limits placement respects. Roles:
    `nodes_per_group`, `groups_per_cluster`, where the cloud documents them `nodes_per_cluster`
    and `clusters_per_region` (the most clusters a region may get; absent: one);
    `blocks_per_network`, the IPv4 CIDR blocks one network may hold (primary included), where
    the cloud grows networks (`grown_blocks`). The key is also the name a spec raises (or
    lowers) it by (`limits:`);
    `gpufleet.nodegroups` reads the values and sources from the table."""
    name_inputs: ClassVar[Mapping[str, tuple[tuple[str, str], ...]]] = {}
    """For types without a row in catalog/data/name_inputs.csv (a cloud without packaged rows):
    type token -> (input, name kind of catalog/data/name_rules.csv) for every physical name
    deploy-readiness checks; list inputs name the key of each item after a dot."""
    autonamed_types: frozenset[str] = frozenset()
    """Of those, the types whose absent name input Pulumi fills in: the logical name plus '-'
    and 7 random characters (deploy-readiness checks that shape)."""
    link: LinkTraits | None = None
    """Its end of the fleet link, or None when it cannot join one (gpufleet/interconnect.py)."""
    storage_private_only: bool = False
    """Whether its dataset stores refuse every public network path, so another cloud reaches
    them only through a private endpoint over the fleet link (gpufleet/datasync.py)."""
    capabilities: Capabilities = Capabilities()
    """What its GPU pools can ask for and how it counts quota (gpufleet/clouds/capabilities.py)."""

    @property
    def link_role(self) -> LinkRole | None:
        """Its role in a VPN pair (`link.role`), None when it cannot join the link: a capability
        read by the link planner, which pairs an `endpoint` cloud with a `gateway` cloud."""
        return self.link.role if self.link is not None else None

    # -- catalog -------------------------------------------------------------------------------

    def catalog_rows(self, table: str, packaged: Iterable[Mapping[str, str]]) -> list[Mapping[str, str]]:
        """This cloud's rows of a catalog table (skus, offers, regions, rdma): by default its rows
        of the packaged CSV; a cloud without packaged data returns its own."""
        return [row for row in packaged if row["cloud"] == self.name]

    def limit(self, key: str) -> Limit:
        """A documented limit of this cloud (value, raisable, source): by default its row of the
        packaged catalog/data/limits.csv; a cloud without packaged rows returns its own."""
        return packaged_limit(self.name, key)

    def quota_buckets(self, sku: Sku, capacity: Capacity) -> tuple[str, ...]:
        """Every quota bucket one node of this SKU draws on."""
        if capacity == "spot":
            return (sku.spot_quota_bucket,)
        return (sku.quota_bucket, *sorted(self.regional_buckets))

    def bucket_key(self, bucket: str) -> str:
        """The spelling under which a bucket is compared (Azure family names ignore case)."""
        return bucket.lower() if self.buckets_case_insensitive else bucket

    # -- cost ----------------------------------------------------------------------------------

    @abstractmethod
    def fixed_costs(self) -> tuple[FixedCost, ...]:
        """What one region's infrastructure costs besides GPU nodes and storage (per hour)."""

    def link_costs(
        self, peers: int, same_cloud_peers: int, region: str | None = None, hub: str | None = None
    ) -> tuple[FixedCost, ...]:
        """What one region costs per hour to join the link with `peers` regions of other clouds
        and `same_cloud_peers` of its own (none for a cloud without `link`); without `region`,
        what any region of the cloud costs at most; `hub` is the size its hub is given (one of
        `hub_sizes`), else the smallest."""
        return ()

    # -- copy paths ------------------------------------------------------------------------------

    def path_rows(self, path: str) -> tuple[PathRate, ...]:
        """This cloud's line rates of one kind of path (`vpn-tunnel`, `object-store`, ...):
        its rows of catalog/data/paths.csv, smallest first (gpufleet/pipes.py)."""
        return tuple(r for r in path_rates() if r.cloud == self.name and r.path == path)

    def hub_sizes(self, region: str | None) -> tuple[PathRate, ...]:
        """The sizes its link hub comes in there, smallest first; none when the hub has no size
        to choose (a transit gateway scales by itself). Copies over the link pick one."""
        return ()

    def declared_hub(self, resource: DeclaredResource) -> PathRate | None:
        """The size a declared link hub has (its row of `hub_sizes`), None for other resources."""
        return None

    # -- addresses -----------------------------------------------------------------------------

    @abstractmethod
    def address_blocks(
        self, slot: Network | None, override: Network | None, avoid: Iterable[Network] = ()
    ) -> AddressBlocks:
        """The region's blocks from its slot and the user's override (`avoid`: the fleet's
        supernet and overrides, which a range outside the slot must not overlap); ValueError
        says why not."""

    @abstractmethod
    def node_ranges(self, blocks: AddressBlocks) -> tuple[NodeRange, ...]:
        """The ranges the region's nodes take addresses from (node subnets, pod range)."""

    @abstractmethod
    def node_addresses(self, instance_type: str, node_range: NodeRange) -> int | None:
        """Addresses one node of this type takes from `node_range` at most, under the CNI
        configuration the program sets; None when the type's figures are unknown."""

    def grown_blocks(self, blocks: AddressBlocks, clusters: int) -> AddressBlocks | None:
        """The blocks with the ranges a region adds beside its slot to hold `clusters` clusters'
        nodes, or None where the cloud's layout does not grow (the default). Growth only adds:
        every range of `blocks` stays where it is (docs/design.md, "Stable names and addresses")."""
        return None

    growth: str = ""
    """How messages and the Addresses table name a grown network's layout."""

    def clusters_in(self, blocks: AddressBlocks, cidr_blocks: int | None) -> int | None:
        """The most clusters a region's network holds with `cidr_blocks` IPv4 CIDR blocks per
        network (`ClusterLimits.blocks_per_network`; None: no limit of its own); AWS: a grown
        VPC's primary block and each cluster's pod blocks
        (docs/design.md, "Several clusters per region")."""
        return None

    def pod_range_shortfall(self, prefix: int) -> str:
        """What to change when a pod range outside the region's network is short: it needs a
        /`prefix`."""
        return f"the pod range must be a /{prefix} or larger"

    largest_block_prefix: int = 8
    """The largest block (smallest prefix) one region's network may be (AWS: a /16 VPC)."""
    address_shortfall_note: str = ""
    """Said when no network of one region can hold its nodes (what else could, and why not)."""
    pod_range_label: str = "pods"
    """How messages name a pod range that lies outside the region's network (AKS pods)."""

    def declared_ranges(self, stack: Sequence[DeclaredResource]) -> list[DeclaredRange]:
        """Every node subnet and pod range the stack declares for this cloud, with its nodes."""
        return []

    def pool_surge(self, max_nodes: int) -> int:
        """Nodes an upgrade may add above a GPU pool's maximum (the program's upgrade settings)."""
        return 0

    surge_per_node: float = 0.0
    surge_per_group: int = 0
    """A linear upper bound of the upgrade surge, for the placement model's address rows: a
    placement of n nodes in g node groups (split at the cluster's nodes per group) surges by
    at most surge_per_node × n + surge_per_group × g nodes, as the program declares its groups
    and as `pool_surge` counts them at the default limit. The surge itself is a step function
    of each group's size (a rounded-up share, a minimum per group); the bound is what a linear
    row can hold, and tests/test_address_placement.py checks it against `pool_surge`."""

    # -- resources as the engine reports them ---------------------------------------------------

    def owns(self, resource_type: str) -> bool:
        package = resource_type.removeprefix("pulumi:providers:").split(":")[0]
        return package in self.packages

    def normalise_region(self, value: str) -> str:
        return value

    def own_region(self, props: Mapping[str, Any]) -> str | None:
        value = props.get(self.location_key)
        return self.normalise_region(value) if isinstance(value, str) and value else None

    def is_regional(self, resource_type: str, props: Mapping[str, Any]) -> bool:
        """Whether a resource of this type has a region of its own to check."""
        return True

    located_packages: tuple[LocatedPackage, ...] = ()
    """Other Pulumi packages whose resources name this cloud's regions (aws-native, classic
    azure): the sovereignty guard locates them as this cloud's (gpufleet/policy/locations.py)."""
    cluster_kind: str = ""
    """What messages call the cloud's Kubernetes clusters (EKS, AKS)."""
    cluster_endpoints: tuple[re.Pattern[str], ...] = ()
    """Patterns whose first group is a cluster's region in a kubeconfig (API server host, exec
    arguments): a Kubernetes resource lives where its cluster lives."""
    own_name_keys: ClassVar[Mapping[str, str]] = {}
    """type token -> the input that holds a resource's own physical name, by which other
    resources may refer to it (the policies follow such references)."""

    def residency_findings(self, resource: DeclaredResource, judge: ResidencyJudge) -> Iterable[str]:
        """What keeps or copies a declared resource's data outside the allowed jurisdictions:
        a store, a copy it makes or reads (replication, backup, geo-redundancy). Each message
        follows the resource's name (sovereignty-storage-residency); none by default."""
        return ()

    tag_inheritance: str = ""
    """Where a resource may inherit tags from, for messages ("the provider's defaultTags")."""

    def inherited_tags(self, provider_props: Mapping[str, Any]) -> Mapping[str, Any]:
        """Tags a resource gets from its provider (AWS `defaultTags`); none by default."""
        return {}

    storage_types: frozenset[str] = frozenset()
    """Types that hold a dataset copy (priced at `storage_rate_in` / `declared_storage_rate`)."""

    def storage_rate_in(self, region: str) -> StorageRate:
        """The rate of the copy the program declares in this region (product and redundancy)."""
        return self.storage_rate

    def declared_storage_rate(self, resource: DeclaredResource) -> StorageRate:
        """The rate of a declared copy, read from its own SKU where the cloud has several."""
        return self.storage_rate

    @abstractmethod
    def security_controls(self) -> SecurityControls:
        """The benchmark controls of this cloud's types (security-baseline); load them on demand,
        as they read inputs through pulumi_policy. A type absent is reported as not verified."""

    def declared_pools(self, resource: DeclaredResource) -> list[DeclaredPool]:
        """The node pools a declared resource creates (none for most types)."""
        return []

    def declared_fixed_costs(self, resource: DeclaredResource) -> list[FixedCost]:
        """The fixed items (`fixed_costs`, `link_costs`) a declared resource is, one unit each
        (none for other types): the budget policy prices each as the plan prices the item."""
        items = (*self.fixed_costs(), *self.link_costs(1, 1))
        item = next((f for f in items if f.prices(resource.type)), None)
        return [replace(item, count=1)] if item else []

    # -- offline engine ----------------------------------------------------------------------------

    def mock_state(self, args: MockArgs, state: dict[str, Any]) -> dict[str, Any]:
        """The provider's answer to a new resource: `state` holds the inputs and `name`."""
        return state

    mock_calls: ClassVar[Mapping[str, Mapping[str, Any]]] = {}
    """Invoke token -> the answer the offline engine gives."""

    def mock_call(
        self, token: str, args: Mapping[str, Any], created: Mapping[str, Mapping[str, Any]]
    ) -> Mapping[str, Any]:
        """The answer to an invoke; `created` maps each mocked resource's name to its state, for
        answers that depend on a resource (credentials of a cluster in its region)."""
        return self.mock_calls.get(token, {})
