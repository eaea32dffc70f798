"""Azure side of a cross-cloud sync job (components/sync.py): blob access for a service account
of any cluster by Microsoft Entra workload identity federation (Microsoft Learn, "Workload
identity federation": a user-assigned managed identity trusts an external OIDC issuer and
subject; "Configure a user-assigned managed identity to trust an external identity provider").

Per grant an identity in the store's resource group, one federated credential (the job
cluster's issuer, exactly the job's service account, audience `api://AzureADTokenExchange`) and
one role assignment on the dataset's container only: Storage Blob Data Reader on a home,
Storage Blob Data Contributor on a copy. Shared keys stay off and nothing is a secret.

A home account denies public network access; a job on the other cloud reaches it through the
home's private endpoint over the fleet link (gpufleet/datasync.py refuses to plan one otherwise)
and resolves the account's public name to that endpoint by a pod host alias, so TLS still
verifies the `*.blob.core.windows.net` certificate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
from pulumi_azure_native import authorization, managedidentity

from components.k8s.syncspec import Remote, token_file
from components.sync import JobSite
from gpufleet.datasync import SyncJobPlan

from . import decisions
from .storage import DatasetStorage

AUDIENCE = "api://AzureADTokenExchange"  # the audience Entra expects (workload identity docs)
# The blob service's public name in Azure's public cloud (Microsoft Learn, "Storage account
# overview", standard endpoints): `<account>.blob.core.windows.net`.
BLOB_HOST_SUFFIX = "blob.core.windows.net"


class AzureStoreAccess:
    """The fleet's dataset accounts as sync jobs reach them (components.sync.StoreAccess)."""

    def __init__(
        self,
        plan_fleet: str,
        stack: str,
        accounts: Mapping[tuple[str, str], DatasetStorage],
        groups: Mapping[str, pulumi.Input[str]],
        parent: pulumi.Resource,
    ) -> None:
        self.fleet = plan_fleet
        self.stack = stack
        self.accounts = accounts
        self.groups = groups
        self.parent = parent

    def grant(
        self, job: SyncJobPlan, *, writer: bool, site: JobSite, remote: str
    ) -> tuple[Remote, Sequence[pulumi.Resource]]:
        region = job.copy_region if writer else job.home_region
        account = self.accounts[(job.dataset, region)]
        opts = pulumi.ResourceOptions(parent=self.parent)
        side = "write" if writer else f"read-{job.copy_cloud}-{job.copy_region}"
        stem = decisions.logical_name(job.dataset, "azure", region, "sync", side)
        identity = managedidentity.UserAssignedIdentity(
            f"{stem}-identity",
            resource_group_name=self.groups[region],
            location=region,
            tags=decisions.resource_tags(self.fleet, self.stack, storage=job.dataset),
            opts=opts,
        )
        federation = managedidentity.FederatedIdentityCredential(
            f"{stem}-federation",
            resource_group_name=self.groups[region],
            resource_name_=identity.name,
            federated_identity_credential_resource_name=f"{job.copy_cloud}-{job.copy_region}",
            issuer=site.issuer,
            subject=job.subject,
            audiences=[AUDIENCE],
            opts=opts,
        )
        subscription = authorization.get_client_config_output(
            opts=pulumi.InvokeOutputOptions(parent=self.parent)
        ).subscription_id
        role = decisions.sync_role(writer=writer)
        assignment = authorization.RoleAssignment(
            f"{stem}-role",
            role_assignment_name=decisions.role_assignment_name(
                self.fleet, self.stack, job.dataset, region, side),
            scope=pulumi.Output.all(account.account_id, account.container_name).apply(
                lambda ids: decisions.container_scope(ids[0], ids[1])),
            principal_id=identity.principal_id,
            principal_type=authorization.PrincipalType.SERVICE_PRINCIPAL,
            role_definition_id=subscription.apply(lambda sub: decisions.role_definition_id(sub, role)),
            description=f"gpufleet sync job of '{job.dataset}' to {job.destination}",
            opts=opts,
        )
        prefix = f"RCLONE_CONFIG_{remote.upper()}_"
        env: dict[str, pulumi.Input[str]] = {
            f"{prefix}TYPE": "azureblob", f"{prefix}ACCOUNT": account.account_name,
            f"{prefix}ENV_AUTH": "true", f"{prefix}NO_CHECK_CONTAINER": "true",
            # rclone's env_auth, "Workload Identity" (rclone.org/azureblob/#env-auth)
            "AZURE_CLIENT_ID": identity.client_id, "AZURE_TENANT_ID": identity.tenant_id,
            "AZURE_FEDERATED_TOKEN_FILE": token_file(remote),
        }
        aliases: list[Mapping[str, Any]] = []
        if not writer and account.blob_endpoint_ip is not None:
            aliases.append({
                "ip": account.blob_endpoint_ip,
                "hostnames": [pulumi.Output.concat(account.account_name, f".{BLOB_HOST_SUFFIX}")],
            })
        remote_side = Remote(
            remote, account.container_name, env, AUDIENCE, token_file(remote), tuple(aliases)
        )
        return remote_side, [federation, assignment]


__all__ = ["AUDIENCE", "AzureStoreAccess"]
