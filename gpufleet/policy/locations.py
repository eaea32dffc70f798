"""Where a resource lives, for any provider a Pulumi program is likely to mix in: one table.

The guards fail closed: a custom resource whose type no provider below owns, or whose location
cannot be read, cannot be verified (the policies report it unless the spec exempts its type).
Only three kinds of resource are out of scope: component resources and the root stack (they
create nothing themselves), provider resources, and the location-free types of LOCATION_FREE.
The registered clouds' own providers, the packages that name their regions (aws-native, classic
azure) and their Kubernetes clusters' endpoints are located by their models (gpufleet/clouds/);
the other providers' knowledge is data here, with the page it comes from.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pulumi_policy import PolicyProviderResource

from gpufleet import clouds
from gpufleet.policy.props import get, plain, text

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


def _upper(value: str) -> str:
    return value.upper()


# Providers a Pulumi user is likely to mix in that no registered cloud locates (the clouds'
# models in gpufleet/clouds/ locate their own packages and those naming their regions, such as
# aws-native and classic azure: `CloudModel.located_packages`): type token package -> location
# fields. Kubernetes has none of its own (see kubernetes_cluster).
PROVIDERS: dict[str, ProviderLocations] = {
    # gcp: `location` (buckets, GKE, Artifact Registry), `region` or `zone` on the resource, else
    # the provider's `region`/`zone` (www.pulumi.com/registry/packages/gcp/installation-configuration/).
    # GCS location names are case-insensitive (cloud.google.com/storage/docs/locations).
    "gcp": ProviderLocations(None, ("location", "region", "zone"), ("region", "zone"), _upper,
                             "www.pulumi.com/registry/packages/gcp/installation-configuration/"),
}


def _located_by_clouds() -> dict[str, ProviderLocations]:
    """The other packages the registered clouds locate, as rules over the cloud's regions."""
    return {
        other.package: ProviderLocations(
            model.name, other.resource_keys, other.provider_keys, model.normalise_region, other.source
        )
        for model in clouds.models() for other in model.located_packages
    }


def known_packages() -> tuple[str, ...]:
    """Every package whose resources can be located: the registered clouds' and the table's."""
    return (
        *sorted({p for m in clouds.models() for p in m.packages} | set(_located_by_clouds()) | set(PROVIDERS)),
        KUBERNETES,
    )

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

# A kubeconfig's `server:` (YAML or JSON), its host: a name, or an address (IPv6 in brackets).
SERVER_HOST = re.compile(r"""server["']?\s*:\s*["']?https?://(\[[0-9A-Fa-f:.]+\]|[^/"'\s:]+)""")


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
    if provider is None and package_of(resource_type) not in known_packages():
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


def location_rule(resource_type: str) -> ProviderLocations | None:
    """How resources of this type say where they live: their cloud's model, a cloud that
    locates their package, else the table."""
    owner = clouds.owner_of(resource_type)
    if owner is not None:
        key = owner.location_key
        return ProviderLocations(owner.name, (key,), (key,), owner.normalise_region, "gpufleet/clouds/")
    package = package_of(resource_type.removeprefix(PROVIDER_PREFIX))
    return _located_by_clouds().get(package) or PROVIDERS.get(package)


def catalog_region(
    resource_type: str, props: Mapping[str, Any], provider: PolicyProviderResource | None
) -> str | None:
    """The catalog region of a resource of a provider whose locations are catalog regions."""
    rule = location_rule(resource_type)
    if rule is None or rule.catalog_cloud is None:
        return None
    return _read(props, provider, rule)


def catalog_cloud(resource_type: str) -> str | None:
    """The catalog cloud whose regions this type's locations name (aws for aws-native, ...)."""
    rule = location_rule(resource_type)
    return rule.catalog_cloud if rule else None


def _has_own_location(resource_type: str, props: Mapping[str, Any]) -> bool:
    """False for global types and children located by their parent (their cloud's model says)."""
    cloud = catalog_cloud(resource_type)
    location = text(get(props, "location"))
    plain = {"location": location} if location else {}
    return cloud is None or clouds.get(cloud).is_regional(resource_type, plain)


def _kubeconfig_text(provider: PolicyProviderResource | None) -> str | None:
    if provider is None or not provider.resource_type.endswith(KUBERNETES):
        return None
    value = get(provider.props, "kubeconfig")
    if isinstance(value, str):
        return value or None
    # a kubeconfig object: the engine hands a proxy over, which json.dumps cannot encode
    return json.dumps(plain(value), default=str) if isinstance(value, Mapping) else None


def kubernetes_cluster(provider: PolicyProviderResource | None) -> Location:
    """The region of the cluster a Kubernetes provider's kubeconfig points at, as the registered
    clouds' endpoint patterns read it (`CloudModel.cluster_endpoints`: EKS, AKS, ...)."""
    config = _kubeconfig_text(provider)
    if config is None:
        return Unverifiable(
            "a Kubernetes resource lives where its cluster lives, and it has no explicit "
            "kubernetes provider with a known kubeconfig"
        )
    if bare := _bare_addresses(config):
        return Unverifiable(
            f"its provider's kubeconfig names its server by the bare address {bare}, which says "
            "nothing of the cluster or where it is (a --region argument beside it proves nothing)"
        )
    found = sorted({
        (model.name, match)
        for model in clouds.models() for pattern in model.cluster_endpoints for match in pattern.findall(config)
    })
    if len(found) == 1:
        cloud, region = found[0]
        kind = clouds.get(cloud).cluster_kind
        return CatalogRegion(cloud, region, via=f"its {kind} cluster, per its provider's kubeconfig")
    if not found:
        kinds = " or ".join(m.cluster_kind for m in clouds.models() if m.cluster_endpoints)
        return Unverifiable(f"its provider's kubeconfig names no {kinds} cluster endpoint")
    shown = ", ".join(f"{c}/{r}" for c, r in found)
    return Unverifiable(f"its provider's kubeconfig names clusters in several places ({shown})")


def _bare_addresses(config: str) -> str:
    """The kubeconfig's servers given as IP addresses (no name a cloud gave the cluster)."""
    found: list[str] = []
    for host in SERVER_HOST.findall(config):
        try:
            found.append(str(ipaddress.ip_address(host.strip("[]"))))
        except ValueError:
            continue
    return ", ".join(sorted(set(found)))


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
    rule = location_rule(resource_type)
    if rule is None:
        known = ", ".join(known_packages())
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
