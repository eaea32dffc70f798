"""Where a resource lives, for any provider a Pulumi program is likely to mix in: one table.

The guards fail closed: a custom resource whose type no provider below owns, or whose location
cannot be read, cannot be verified (the policies report it unless the spec exempts its type).
Only three kinds of resource are out of scope: component resources and the root stack (they
create nothing themselves), provider resources, and the location-free types of LOCATION_FREE.
The knowledge of each provider is data here, with the page it comes from, so that it can move
behind a per-cloud interface in one piece.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pulumi_policy import PolicyProviderResource

from gpufleet.policy.props import get, normalise_location, text

PROVIDER_PREFIX = "pulumi:providers:"
KUBERNETES = "kubernetes"


@dataclass(frozen=True, slots=True)
class ProviderLocations:
    """How one provider's resources say where they live."""

    catalog_cloud: str | None  # the gpufleet catalog cloud whose regions it names; None: none
    resource_keys: tuple[str, ...]  # inputs on a resource naming its location, first set wins
    provider_keys: tuple[str, ...]  # inputs of its provider naming the default location
    normalise: Callable[[str], str]
    source: str


def _same(value: str) -> str:
    return value


def _upper(value: str) -> str:
    return value.upper()


# Type token package -> location fields. Kubernetes has none of its own (see kubernetes_cluster).
PROVIDERS: dict[str, ProviderLocations] = {
    # pulumi-aws 7: every regional resource takes `region`, defaulting to the provider's `region`
    # (www.pulumi.com/registry/packages/aws/how-to-guides/7-0-migration/, "Multi-region support").
    "aws": ProviderLocations("aws", ("region",), ("region",), _same,
                             "www.pulumi.com/registry/packages/aws/installation-configuration/"),
    # aws-native resources have no region input: the provider's `region` (aws-native:region)
    # is where they are created (www.pulumi.com/registry/packages/aws-native/installation-configuration/).
    "aws-native": ProviderLocations(
        "aws", (), ("region",), _same,
        "www.pulumi.com/registry/packages/aws-native/installation-configuration/",
    ),
    # azure-native: `location` on the resource, else the provider's `location`
    # (www.pulumi.com/registry/packages/azure-native/installation-configuration/); Azure accepts
    # display names ("Sweden Central") as well as names ("swedencentral").
    "azure-native": ProviderLocations(
        "azure", ("location",), ("location",), normalise_location,
        "www.pulumi.com/registry/packages/azure-native/installation-configuration/",
    ),
    # Classic azure (azurerm): regional resources take `location`; the provider has no default
    # location (www.pulumi.com/registry/packages/azure/installation-configuration/), so a child
    # resource without `location` (a container, a subnet) cannot be located by itself.
    "azure": ProviderLocations("azure", ("location",), (), normalise_location,
                               "www.pulumi.com/registry/packages/azure/api-docs/"),
    # gcp: `location` (buckets, GKE, Artifact Registry), `region` or `zone` on the resource, else
    # the provider's `region`/`zone` (www.pulumi.com/registry/packages/gcp/installation-configuration/).
    # GCS location names are case-insensitive (cloud.google.com/storage/docs/locations).
    "gcp": ProviderLocations(None, ("location", "region", "zone"), ("region", "zone"), _upper,
                             "www.pulumi.com/registry/packages/gcp/installation-configuration/"),
}
KNOWN_PACKAGES = (*sorted(PROVIDERS), KUBERNETES)

# GCS multi-regions and predefined dual-regions (cloud.google.com/storage/docs/locations) -> the
# jurisdictions that hold every copy. EU keeps data in EU member states; ASIA spans several
# countries with no common jurisdiction, so it cannot be verified. A GCP region is named
# lower-case (europe-west4); it is not in the gpufleet catalog, so it cannot be verified either.
_EU = frozenset({"EU", "EEA"})
GCP_MULTI_REGIONS: dict[str, frozenset[str]] = {
    "US": frozenset({"US"}),
    "EU": _EU,
    "ASIA": frozenset(),
    "NAM4": frozenset({"US"}),  # Iowa + South Carolina
    "EUR4": _EU,  # Finland + Netherlands
    "ASIA1": frozenset({"JP"}),  # Tokyo + Osaka
    "EUR5": frozenset(),  # Belgium + London
    "EUR7": frozenset(),  # London + Frankfurt
    "EUR8": frozenset(),  # Frankfurt + Zurich
}

# Types that create nothing in any location, by built-in rule (the spec cannot add to these;
# it lists its own in policies.unlocated_types).
LOCATION_FREE_PACKAGES: dict[str, str] = {
    # www.pulumi.com/registry/packages/random/: values generated into the Pulumi state
    "random": "random values live only in the Pulumi state",
    # www.pulumi.com/registry/packages/tls/: keys and certificates generated into the state
    "tls": "keys and certificates generated into the Pulumi state",
}
LOCATION_FREE_TYPES: dict[str, str] = {
    # www.pulumi.com/docs/iac/concepts/stacks/#stackreferences: reads another stack's outputs
    "pulumi:pulumi:StackReference": "reads another stack's outputs from the backend",
}
PROVIDER_REASON = "a provider configuration, not a resource in any cloud"

# AWS resources that are global (not in any region): they pass.
AWS_GLOBAL_TYPES = frozenset({
    "aws:iam/role:Role",
    "aws:iam/policy:Policy",
    "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:iam/policyAttachment:PolicyAttachment",
    "aws:iam/instanceProfile:InstanceProfile",
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider",
    "aws:iam/serviceLinkedRole:ServiceLinkedRole",
    "aws:iam/user:User",
    "aws:iam/userPolicy:UserPolicy",
    "aws:iam/userPolicyAttachment:UserPolicyAttachment",
    "aws:iam/group:Group",
    "aws:iam/groupPolicy:GroupPolicy",
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
    "aws:route53/zone:Zone",
    "aws:route53/record:Record",
    "aws:cloudfront/distribution:Distribution",
    "aws:organizations/policy:Policy",
})

# Azure child resources whose schema has no `location`: they live where their parent lives,
# and the parent (cluster, account, virtual network, NSG, resource group) is checked itself.
AZURE_INHERITING_TYPES = frozenset({
    "azure-native:containerservice:AgentPool",
    "azure-native:containerservice:MaintenanceConfiguration",
    "azure-native:containerservice:TrustedAccessRoleBinding",
    "azure-native:containerservice:PrivateEndpointConnection",
    "azure-native:network:Subnet",
    "azure-native:network:SecurityRule",
    "azure-native:network:Route",
    "azure-native:network:VirtualNetworkPeering",
    "azure-native:network:PrivateDnsZoneGroup",
    "azure-native:network:InboundNatRule",
    "azure-native:storage:BlobContainer",
    "azure-native:storage:BlobServiceProperties",
    "azure-native:storage:FileServiceProperties",
    "azure-native:storage:QueueServiceProperties",
    "azure-native:storage:TableServiceProperties",
    "azure-native:storage:FileShare",
    "azure-native:storage:Queue",
    "azure-native:storage:Table",
    "azure-native:storage:Blob",
    "azure-native:storage:ManagementPolicy",
    "azure-native:storage:EncryptionScope",
    "azure-native:storage:BlobInventoryPolicy",
    "azure-native:storage:ObjectReplicationPolicy",
    "azure-native:storage:PrivateEndpointConnection",
    "azure-native:authorization:RoleAssignment",
    "azure-native:authorization:RoleDefinition",
    "azure-native:authorization:ManagementLockAtResourceGroupLevel",
    "azure-native:authorization:ManagementLockAtResourceLevel",
    "azure-native:authorization:ManagementLockByScope",
    "azure-native:managedidentity:FederatedIdentityCredential",
})

# Azure's own name for resources that are not in a region (DNS zones, Front Door, ...).
AZURE_GLOBAL_LOCATION = "global"

# A Kubernetes resource lives where its cluster lives: the API server host of an EKS or AKS
# cluster names its region. EKS: https://<id>.<gr7|yl4|...>.<region>.eks.amazonaws.com
# (docs.aws.amazon.com/eks/latest/userguide/cluster-endpoint.html); AKS: <fqdn-prefix>.hcp.
# <location>.azmk8s.io, private <...>.privatelink.<location>.azmk8s.io
# (learn.microsoft.com/azure/aks/private-clusters). `aws eks get-token ... --region R` in an
# exec kubeconfig names the EKS region too (docs.aws.amazon.com/cli/latest/reference/eks/get-token.html).
CLUSTER_ENDPOINTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("aws", re.compile(r"\.([a-z]{2}(?:-[a-z]+)+-\d+)\.eks\.amazonaws\.com")),
    ("aws", re.compile(r"--region[\"',\s]+([a-z]{2}(?:-[a-z]+)+-\d+)")),
    ("azure", re.compile(r"\.([a-z0-9]+)\.azmk8s\.io")),
)


# -- what a resource's location is -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OutOfScope:
    """Nothing to locate: a component, a provider, or a location-free type."""

    reason: str


@dataclass(frozen=True, slots=True)
class CatalogRegion:
    """A region of a catalog cloud; `region` None when it cannot be read (`why` says why)."""

    cloud: str
    region: str | None
    why: str = ""
    via: str = ""


@dataclass(frozen=True, slots=True)
class NamedPlace:
    """A location outside the catalog (a GCS multi-region) and the jurisdictions of every copy."""

    location: str
    jurisdictions: frozenset[str]


@dataclass(frozen=True, slots=True)
class Unverifiable:
    why: str


Location = OutOfScope | CatalogRegion | NamedPlace | Unverifiable


def package_of(resource_type: str) -> str:
    return resource_type.split(":", 1)[0]


def out_of_scope(resource_type: str, provider: PolicyProviderResource | None) -> str | None:
    """Why a resource has nothing of its own for a cloud guard to judge, else None.

    The engine hands every custom resource its provider (the default one included: pulumi/pulumi
    pkg/resource/deploy/step_generator.go asserts "must have a provider for custom resource"),
    so a resource without one, of a package no table knows, is a component or the root stack.
    """
    if resource_type.startswith(PROVIDER_PREFIX):
        return PROVIDER_REASON
    free = LOCATION_FREE_TYPES.get(resource_type) or LOCATION_FREE_PACKAGES.get(
        package_of(resource_type)
    )
    if free:
        return free
    if provider is None and package_of(resource_type) not in KNOWN_PACKAGES:
        return "a component resource: what it creates is judged resource by resource"
    return None


def _read(
    props: Mapping[str, Any], provider: PolicyProviderResource | None, rule: ProviderLocations
) -> str | None:
    """The location from the resource's own keys, else from its provider's."""
    for key in rule.resource_keys:
        own = text(get(props, key))
        if own:
            return rule.normalise(own)
    if provider is not None:
        for key in rule.provider_keys:
            inherited = text(get(provider.props, key))
            if inherited:
                return rule.normalise(inherited)
    return None


def _missing(rule: ProviderLocations) -> str:
    own = " or ".join(f"'{k}'" for k in rule.resource_keys)
    inherited = " or ".join(f"'{k}'" for k in rule.provider_keys)
    if own and inherited:
        return f"no {own} on the resource or its provider"
    if own:
        return f"no {own} on the resource (its provider has no default location)"
    return f"no {inherited} on its provider"


def catalog_region(
    resource_type: str, props: Mapping[str, Any], provider: PolicyProviderResource | None
) -> str | None:
    """The catalog region of a resource of a provider whose locations are catalog regions."""
    rule = PROVIDERS.get(package_of(resource_type))
    if rule is None or rule.catalog_cloud is None:
        return None
    return _read(props, provider, rule)


def catalog_cloud(resource_type: str) -> str | None:
    """'aws' or 'azure' for a type whose locations are regions of that catalog cloud."""
    rule = PROVIDERS.get(package_of(resource_type.removeprefix(PROVIDER_PREFIX)))
    return rule.catalog_cloud if rule else None


def _has_own_location(resource_type: str, props: Mapping[str, Any]) -> bool:
    if resource_type in AWS_GLOBAL_TYPES or resource_type in AZURE_INHERITING_TYPES:
        return False
    location = text(get(props, "location"))
    return not (
        catalog_cloud(resource_type) == "azure"
        and location is not None
        and normalise_location(location) == AZURE_GLOBAL_LOCATION
    )


def _kubeconfig_text(provider: PolicyProviderResource | None) -> str | None:
    if provider is None or not provider.resource_type.endswith(KUBERNETES):
        return None
    value = get(provider.props, "kubeconfig")
    if isinstance(value, str):
        return value or None
    return json.dumps(value, default=str) if isinstance(value, Mapping) else None


def kubernetes_cluster(provider: PolicyProviderResource | None) -> Location:
    """The region of the EKS or AKS cluster a Kubernetes provider's kubeconfig points at."""
    config = _kubeconfig_text(provider)
    if config is None:
        return Unverifiable(
            "a Kubernetes resource lives where its cluster lives, and it has no explicit "
            "kubernetes provider with a known kubeconfig"
        )
    found = sorted({
        (cloud, match) for cloud, pattern in CLUSTER_ENDPOINTS for match in pattern.findall(config)
    })
    if len(found) == 1:
        cloud, region = found[0]
        kind = "EKS" if cloud == "aws" else "AKS"
        return CatalogRegion(cloud, region, via=f"its {kind} cluster, per its provider's kubeconfig")
    if not found:
        return Unverifiable("its provider's kubeconfig names no EKS or AKS cluster endpoint")
    shown = ", ".join(f"{c}/{r}" for c, r in found)
    return Unverifiable(f"its provider's kubeconfig names clusters in several places ({shown})")


def locate(
    resource_type: str, props: Mapping[str, Any], provider: PolicyProviderResource | None
) -> Location:
    """Where the resource lives, or why that cannot be known."""
    reason = out_of_scope(resource_type, provider)
    if reason is not None:
        return OutOfScope(reason)
    package = package_of(resource_type)
    if package == KUBERNETES:
        return kubernetes_cluster(provider)
    rule = PROVIDERS.get(package)
    if rule is None:
        known = ", ".join(KNOWN_PACKAGES)
        return Unverifiable(f"no provider gpufleet knows owns the type (known: {known})")
    if not _has_own_location(resource_type, props):
        return OutOfScope("global, or located by the parent it belongs to")
    location = _read(props, provider, rule)
    if rule.catalog_cloud is not None:
        return CatalogRegion(rule.catalog_cloud, location, "" if location else _missing(rule))
    if location is None:
        return Unverifiable(_missing(rule))
    if location in GCP_MULTI_REGIONS:
        return NamedPlace(location, GCP_MULTI_REGIONS[location])
    return Unverifiable(
        f"location '{location.lower()}' is a {package} location that is not in the gpufleet "
        "catalog, so its jurisdiction is unknown"
    )
