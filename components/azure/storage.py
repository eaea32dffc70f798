"""`gpufleet:azure:DatasetStorage`: a locked-down StorageV2 account and a private blob container.

No public network path at all (`publicNetworkAccess: Disabled`, network rules deny by default):
the account is reached through a private endpoint in the region's endpoint subnet. Auth is
Entra ID only (shared keys off), TLS 1.2+, HTTPS only, infrastructure (double) encryption, soft
delete and versioning. The account and container are protected and retained on delete unless
the spec says `protect: false`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import network, storage

from components.azure import decisions


@dataclass(frozen=True)
class DatasetStorageArgs:
    resource_group_name: pulumi.Input[str]
    location: str
    account_name: str
    container_name: str
    sku: str
    endpoint_subnet_id: pulumi.Input[str] | None
    """None in a region that holds only a dataset's home copy (no VNet): no private endpoint;
    writers bring their own, and replication runs inside Azure Storage."""
    blob_dns_zone_id: pulumi.Input[str] | None
    protect: bool
    tags: Mapping[str, str]
    change_feed: bool = False
    """On for a home account: object replication reads the source's change feed."""


class DatasetStorage(pulumi.ComponentResource):
    """Storage account + blob service settings + private container + private endpoint."""

    account_name: pulumi.Output[str]
    account_id: pulumi.Output[str]
    container_name: pulumi.Output[str]
    ready: list[pulumi.Resource]
    """What object replication waits for: versioning (and change feed) and the container."""
    blob_endpoint_ip: pulumi.Output[str] | None
    """The private endpoint's address as its private DNS record holds it (None without one):
    where a sync job on the other cloud reaches the account over the fleet link."""

    def __init__(
        self, name: str, args: DatasetStorageArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("gpufleet:azure:DatasetStorage", name, {"location": args.location}, opts)
        tags = dict(args.tags)
        account = storage.StorageAccount(
            f"{name}-account",
            resource_group_name=args.resource_group_name,
            location=args.location,
            account_name=args.account_name,
            kind=storage.Kind.STORAGE_V2,
            sku={"name": args.sku},
            access_tier=storage.AccessTier.HOT,
            enable_https_traffic_only=True,
            minimum_tls_version=storage.MinimumTlsVersion.TLS1_2,
            allow_blob_public_access=False,
            allow_shared_key_access=False,
            default_to_o_auth_authentication=True,
            allow_cross_tenant_replication=False,
            is_local_user_enabled=False,
            is_sftp_enabled=False,
            public_network_access=storage.PublicNetworkAccess.DISABLED,
            network_rule_set={
                "default_action": storage.DefaultAction.DENY,
                "bypass": storage.Bypass.NONE,
            },
            encryption={
                "key_source": storage.KeySource.MICROSOFT_STORAGE,
                "require_infrastructure_encryption": True,
                "services": {
                    "blob": {"enabled": True, "key_type": storage.KeyType.ACCOUNT},
                    "file": {"enabled": True, "key_type": storage.KeyType.ACCOUNT},
                },
            },
            tags=tags,
            opts=pulumi.ResourceOptions(
                parent=self, protect=args.protect, retain_on_delete=args.protect
            ),
        )
        blob_service = storage.BlobServiceProperties(
            f"{name}-blob-service",
            resource_group_name=args.resource_group_name,
            account_name=account.name,
            blob_services_name="default",
            is_versioning_enabled=True,
            change_feed={"enabled": True} if args.change_feed else None,
            delete_retention_policy={"enabled": True, "days": decisions.BLOB_RETENTION_DAYS},
            container_delete_retention_policy={
                "enabled": True,
                "days": decisions.BLOB_RETENTION_DAYS,
            },
            opts=pulumi.ResourceOptions(parent=self),
        )
        container = storage.BlobContainer(
            f"{name}-container",
            resource_group_name=args.resource_group_name,
            account_name=account.name,
            container_name=args.container_name,
            public_access=storage.PublicAccess.NONE,
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[blob_service],
                protect=args.protect,
                retain_on_delete=args.protect,
            ),
        )
        self.blob_endpoint_ip = None
        if args.endpoint_subnet_id is not None:
            endpoint = network.PrivateEndpoint(
                f"{name}-blob-endpoint",
                resource_group_name=args.resource_group_name,
                location=args.location,
                private_endpoint_name=f"pe-{args.account_name}-blob",
                subnet={"id": args.endpoint_subnet_id},
                private_link_service_connections=[
                    {"name": "blob", "private_link_service_id": account.id, "group_ids": ["blob"]}
                ],
                tags=tags,
                opts=pulumi.ResourceOptions(parent=self),
            )
            if args.blob_dns_zone_id is not None:
                zone_group = network.PrivateDnsZoneGroup(
                    f"{name}-blob-dns",
                    resource_group_name=args.resource_group_name,
                    private_endpoint_name=endpoint.name,
                    private_dns_zone_group_name="default",
                    private_dns_zone_configs=[
                        {"name": "blob", "private_dns_zone_id": args.blob_dns_zone_id}
                    ],
                    opts=pulumi.ResourceOptions(parent=self),
                )
                self.blob_endpoint_ip = zone_group.private_dns_zone_configs.apply(_first_address)
        self.account_name = account.name
        self.account_id = account.id
        self.container_name = container.name
        self.ready = [blob_service, container]
        self.register_outputs(
            {
                "accountName": self.account_name,
                "containerName": self.container_name,
            }
        )


def _first_address(configs: Sequence[network.outputs.PrivateDnsZoneConfigResponse] | None) -> str:
    """The A record the zone group wrote for the endpoint (read-only `recordSets`, ARM
    PrivateDnsZoneGroup API)."""
    for config in configs or ():
        for record in config.record_sets:
            if record.ip_addresses:
                return record.ip_addresses[0]
    return ""
