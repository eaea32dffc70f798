"""deploy-readiness: the recorded resources are what the clouds accept, so "0 violations" means
the fleet comes up (issue 14).

Judged from the declared resources alone, at the documented default limits or the limits the
spec declares (`limits:`, passed as this policy's configuration):
- every node group / agent pool at its maximum size within the nodes-per-group limit;
- every cluster within its groups-per-cluster and (where the cloud has one) nodes-per-cluster
  limit, its system pool counted;
- every VPC within its IPv4 CIDR blocks per VPC (secondary block associations counted);
- every physical name within its rules, as the provider will send it (catalog/data/
  name_rules.csv; which inputs hold names and how a provider names what the program leaves
  unnamed: catalog/data/name_inputs.csv, gpufleet/catalog/names.py).
- what deploys but runs wrong: in the clusters (gpufleet/policy/readycluster.py: autoscalers,
  helpers on system pools, GPUDirect RDMA, chart ordering) and in the clouds' settings
  (gpufleet/policy/readycloud.py: zones, load balancer probes, AKS upgrade windows and admin).
The checks are a list (`CHECKS`): another check is one more function.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy import PolicyResource, ReportViolation, StackValidationArgs

from gpufleet import clouds
from gpufleet.catalog.limits import name_problem
from gpufleet.catalog.names import NameInput, autonamed, name_inputs
from gpufleet.clouds.declared import DeclaredPool
from gpufleet.nodegroups import ClusterLimits, limits_in
from gpufleet.policy import readycloud, readycluster
from gpufleet.policy.config import DEPLOY_READINESS, effective_config
from gpufleet.policy.gpu import declared_pools
from gpufleet.policy.props import describe, get, items, mapping, number
from gpufleet.policy.view import View

Finding = tuple[str, str]  # (urn, message)


@dataclass(frozen=True, slots=True)
class Stack:
    """What every check reads: the resources and the declared limits."""

    resources: Sequence[PolicyResource]
    limits: Mapping[str, Mapping[str, Mapping[str, int]]]

    def limits_for(self, cloud: str, region: str | None) -> ClusterLimits:
        return limits_in(self.limits, cloud, region)


def _declared(config: object) -> dict[str, dict[str, dict[str, int]]]:
    """The configuration's `limits` as plain ints (the engine hands numbers over as floats)."""
    found: dict[str, dict[str, dict[str, int]]] = {}
    for cloud, regions in mapping(config).items():
        for region, keys in mapping(regions).items():
            for key, value in mapping(keys).items():
                whole = number(value)
                if whole is not None:
                    found.setdefault(str(cloud), {}).setdefault(str(region), {})[str(key)] = int(whole)
    return found


def _fix(limits: ClusterLimits, role: str) -> str:
    """How to get past a limit: raise and declare it, or spread out if it is fixed."""
    limit = limits.sources[role]
    if not limit.adjustable:
        return f"{limit.key} is fixed ({limit.source}); spread the nodes over more regions"
    return (
        f"spread the nodes over more groups or regions, or raise {limit.key} with the cloud "
        f"({limit.source}) and declare it under `limits: {{{limits.cloud}: {{{limits.region}: "
        f"{{{limit.key}: <value>}}}}}}`"
    )


def group_sizes(stack: Stack) -> list[Finding]:
    """Every node group / agent pool at most nodes-per-group nodes at its maximum size."""
    findings: list[Finding] = []
    for resource, cloud, pool in declared_pools(stack.resources):
        limits = stack.limits_for(cloud, pool.region)
        if pool.max_nodes > limits.nodes_per_group:
            noun = clouds.get(cloud).group_noun
            findings.append((resource.urn, (
                f"{describe(resource.resource_type, pool.name)}: {noun} of {pool.max_nodes} nodes at "
                f"maximum size in {cloud}/{limits.region}, above {limits.key('nodes_per_group')} = "
                f"{limits.nodes_per_group}; " + _fix(limits, "nodes_per_group")
            )))
    return findings


def cluster_sizes(stack: Stack) -> list[Finding]:
    """Every cluster within its groups-per-cluster and nodes-per-cluster limits."""
    clusters: dict[tuple[str, str | None, str | None], list[tuple[PolicyResource, DeclaredPool]]] = defaultdict(list)
    for resource, cloud, pool in declared_pools(stack.resources):
        clusters[(cloud, pool.region, pool.cluster)].append((resource, pool))
    findings: list[Finding] = []
    for (cloud, region, cluster), members in sorted(clusters.items(), key=lambda item: str(item[0])):
        limits = stack.limits_for(cloud, region)
        noun = clouds.get(cloud).group_noun
        where = f"cluster {cluster or '(name unknown)'} in {cloud}/{limits.region}"
        urn = members[0][0].urn
        if len(members) > limits.groups_per_cluster:
            findings.append((urn, (
                f"{where}: {len(members)} {noun}s, above {limits.key('groups_per_cluster')} = "
                f"{limits.groups_per_cluster}; " + _fix(limits, "groups_per_cluster")
            )))
        nodes = sum(pool.max_nodes for _, pool in members)
        if limits.nodes_per_cluster is not None and nodes > limits.nodes_per_cluster:
            findings.append((urn, (
                f"{where}: {nodes} nodes at maximum size, above {limits.key('nodes_per_cluster')} = "
                f"{limits.nodes_per_cluster}; " + _fix(limits, "nodes_per_cluster")
            )))
    return findings


VPC = "aws:ec2/vpc:Vpc"
VPC_BLOCK = "aws:ec2/vpcIpv4CidrBlockAssociation:VpcIpv4CidrBlockAssociation"


def network_blocks(stack: Stack) -> list[Finding]:
    """Every VPC within its IPv4 CIDR blocks per VPC (its primary block and every secondary
    block association): AWS refuses an association past the quota, so a grown network
    (docs/design.md, "Region-scale networks") must fit it; 5 by default, raisable to 50 (limits.csv
    `ipv4_cidr_blocks_per_vpc`, or the spec's `limits:`)."""
    vpcs = frozenset({VPC})
    blocks: dict[str, list[View]] = defaultdict(list)
    for resource in stack.resources:
        if resource.resource_type == VPC_BLOCK:
            vpc = View(resource, stack.resources).linked("vpcId", vpcs)
            if vpc is not None:
                blocks[vpc.urn].append(View(resource, stack.resources))
    findings: list[Finding] = []
    for resource in stack.resources:
        owner = clouds.owner_of(resource.resource_type)
        if resource.resource_type != VPC or owner is None:
            continue
        limits = stack.limits_for(owner.name, View(resource, stack.resources).region())
        count = 1 + len(blocks[resource.urn])
        if limits.blocks_per_network is not None and count > limits.blocks_per_network:
            findings.append((resource.urn, (
                f"{describe(resource.resource_type, resource.name)}: {count} IPv4 CIDR blocks (the primary "
                f"and {count - 1} associated) in {owner.name}/{limits.region}, above "
                f"{limits.key('blocks_per_network')} = {limits.blocks_per_network}; "
                + _fix(limits, "blocks_per_network")
            )))
    return findings


def _values(props: Any, segments: Sequence[str]) -> list[Any]:
    """The value(s) at an input path (gpufleet/catalog/names.py): `a.b` nested, `a[].b` every
    item's key, `a.*` every value of a mapping."""
    if not segments:
        return [props]
    head, rest = segments[0], segments[1:]
    if head == "*":
        return [found for value in mapping(props).values() for found in _values(value, rest)]
    if head.endswith("[]"):
        return [found for item in items(get(props, head[:-2])) for found in _values(item, rest)]
    return _values(get(props, head), rest)


def _name_inputs(resource: PolicyResource) -> tuple[NameInput, ...]:
    """The packaged rows of its type, else what its cloud model declares (a cloud without
    packaged rows)."""
    rows = name_inputs(resource.resource_type)
    if rows is not None:
        return rows
    owner = clouds.owner_of(resource.resource_type)
    if owner is None:
        return ()
    strategy = "aws" if resource.resource_type in owner.autonamed_types else ""
    return tuple(
        NameInput(resource.resource_type, path.replace(".", "[]."), kind, strategy, "")
        for path, kind in owner.name_inputs.get(resource.resource_type, ())
    )


def names(stack: Stack) -> list[Finding]:
    """Every physical name within the rules of its kind, as the provider will send it: the
    input as given, or the name the provider makes from the logical name when it is absent
    (values not yet known in a preview are left to the cloud)."""
    findings: list[Finding] = []
    for resource in stack.resources:
        for row in _name_inputs(resource):
            given = row.segments[0].removesuffix("[]") in mapping(resource.props)
            made = None if given else autonamed(row.autoname, resource.name)
            values = [made] if made is not None else _values(resource.props, row.segments)
            for value in values:
                problem = name_problem(row.kind, value) if isinstance(value, str) else None
                if problem and made is not None:
                    findings.append((resource.urn, (
                        f"{describe(resource.resource_type, resource.name)}: the provider names it "
                        f"from its logical name, and {problem}; shorten the logical name"
                    )))
                elif problem:
                    findings.append((resource.urn, (
                        f"{describe(resource.resource_type, resource.name)}: {problem}; the cloud "
                        "refuses the name, so rename it"
                    )))
    return findings


def _on_resources(check: Callable[[Sequence[PolicyResource]], list[Finding]]) -> Callable[[Stack], list[Finding]]:
    """A check that reads the resources alone (no limits)."""
    return lambda stack: check(stack.resources)


CHECKS: list[Callable[[Stack], list[Finding]]] = [
    group_sizes, cluster_sizes, network_blocks, names,
    *(_on_resources(check) for check in (
        readycluster.autoscalers, readycluster.helpers, readycluster.fabric,
        readycloud.zones, readycloud.probes, readycloud.aks,
    )),
]


def readiness_findings(resources: Sequence[PolicyResource], limits: object = None) -> list[Finding]:
    """Every finding of every check, in check order."""
    stack = Stack(resources, _declared(limits))
    return [finding for check in CHECKS for finding in check(stack)]


def validate_deploy_readiness(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """deploy-readiness: groups, clusters and names within the clouds' limits and rules."""
    config = effective_config(args, DEPLOY_READINESS)
    if config is None:
        return
    for urn, message in readiness_findings(args.resources, config.get("limits")):
        report_violation(message, urn)
