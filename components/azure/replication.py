"""Azure object replication from a dataset's home storage account to its copies in other
Azure regions (Microsoft Learn, "Object replication for block blobs").

Requirements met by `DatasetStorage`: blob versioning on both accounts and the change feed on
the source (`change_feed=True` for home accounts). A policy is created on the destination
account first with the id `default`; Azure returns the policy id and rule ids, and the same
policy is then set on the source account with them ("Configure object replication", ARM
steps). Cross-tenant replication is off on every account, so both sides name the accounts by
full resource id. `min_creation_time` 1601-01-01 copies the blobs that exist already (the fill),
then new and changed blobs follow (the churn).

The policies hold no data; the accounts and containers stay protected and retained.
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
from pulumi_azure_native import storage

from gpufleet.plan import FleetPlan

from . import decisions
from .storage import DatasetStorage

COPY_EVERYTHING = "1601-01-01T00:00:00Z"  # object replication's "copy all existing blobs"


def declare_replication(
    plan: FleetPlan,
    accounts: Mapping[tuple[str, str], DatasetStorage],
    groups: Mapping[str, pulumi.Input[str]],
    parent: pulumi.Resource,
) -> None:
    """For every Azure home copy: an object replication policy to each Azure copy."""
    for home in plan.storage:
        if home.cloud != "azure" or home.source is not None:
            continue
        source = accounts[(home.name, home.region)]
        for copy in plan.replicas_of(home):
            if copy.cloud != "azure":
                continue
            target = accounts[(home.name, copy.region)]
            name = decisions.logical_name(home.name, "azure", home.region, "to", copy.region)
            opts = pulumi.ResourceOptions(parent=parent, depends_on=[*source.ready, *target.ready])
            rule: storage.ObjectReplicationPolicyRuleArgsDict = {
                "source_container": source.container_name,
                "destination_container": target.container_name,
                "filters": {"min_creation_time": COPY_EVERYTHING},
            }
            on_destination = storage.ObjectReplicationPolicy(
                f"{name}-destination",
                resource_group_name=groups[copy.region],
                account_name=target.account_name,
                object_replication_policy_id="default",
                source_account=source.account_id,
                destination_account=target.account_id,
                rules=[rule],
                opts=opts,
            )
            rule_id = on_destination.rules.apply(lambda rules: rules[0].rule_id if rules else None)
            sourced: storage.ObjectReplicationPolicyRuleArgsDict = {**rule, "rule_id": rule_id}
            storage.ObjectReplicationPolicy(
                f"{name}-source",
                resource_group_name=groups[home.region],
                account_name=source.account_name,
                object_replication_policy_id=on_destination.policy_id,
                source_account=source.account_id,
                destination_account=target.account_id,
                rules=[sourced],
                opts=pulumi.ResourceOptions(parent=parent, depends_on=[on_destination]),
            )
