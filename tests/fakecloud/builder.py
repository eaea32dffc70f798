"""FakeCloud's Pulumi builder: plain `pulumi.CustomResource`s of package `fakecloud`, and the
shared components a real cloud's builder uses: its link end on the `LinkBoard` (a gateway), its
store on the `SyncBoard` (a sync job writes a cross-cloud copy into it), and the in-cluster GPU
layer (`components.k8s.layer.GpuLayer`) on every cluster in the second stage.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import pulumi

from components.k8s import GpuPoolTarget, Taint
from components.k8s.layer import GpuLayer, GpuLayerArgs
from components.k8s.syncspec import Remote, token_file
from components.k8s.values import SystemPlacement
from components.link import LinkBoard
from components.sync import JobSite, SyncBoard
from gpufleet.datasync import SyncJobPlan
from gpufleet.kubeconfig import context_name
from gpufleet.plan import FleetPlan, LinkSite, TunnelPlan
from tests.fakecloud import BUCKET, CLUSTER, GATEWAY, GRANT, NAME, NETWORK, PEERING, POOL, TUNNEL

GPU_TAINT = Taint("nvidia.com/gpu", "present", "NoSchedule")


def output(resource: pulumi.CustomResource, key: str) -> pulumi.Output[Any]:
    """An output of a resource declared without an SDK: Pulumi sets one per input key."""
    return cast(pulumi.Output[Any], vars(resource)[key])


class FakeGateway(pulumi.ComponentResource):
    """FakeCloud's end of the fleet link in one region (components.link.LinkGateway)."""

    def __init__(self, site: LinkSite, tags: Mapping[str, str], parent: pulumi.Resource) -> None:
        slug = site.key.replace("/", "-")
        super().__init__("gpufleet:fakecloud:GatewayHub", slug, None, pulumi.ResourceOptions(parent=parent))
        self.site = site
        self.slug = slug
        gateway = pulumi.CustomResource(
            GATEWAY, f"{slug}-gateway", {"region": site.region, "asn": site.asn, "tags": dict(tags), "publicIps": None},
            pulumi.ResourceOptions(parent=self),
        )
        ips = output(gateway, "publicIps")
        self._ips = [ips.apply(lambda a, i=i: str(a[i])) for i in (0, 1)]
        self.register_outputs({})

    @property
    def public_ips(self) -> Sequence[pulumi.Output[str]]:
        return self._ips

    def connect(
        self, endpoint: LinkSite, tunnels: Sequence[TunnelPlan],
        outside: Mapping[str, pulumi.Output[str]], keys: Mapping[str, pulumi.Output[str]],
    ) -> None:
        for t in sorted(tunnels, key=lambda t: t.key):
            pulumi.CustomResource(TUNNEL, f"{self.slug}-to-{endpoint.key.replace('/', '-')}-c{t.connection}t{t.tunnel}", {
                "region": self.site.region, "peerAddress": outside[t.key], "peerAsn": endpoint.asn,
                "insideCidr": t.inside_cidr, "sharedKey": keys[t.key],
            }, pulumi.ResourceOptions(parent=self, additional_secret_outputs=["sharedKey"]))

    def peer(self, other: FakeGateway, /) -> None:
        pulumi.CustomResource(PEERING, f"{self.slug}-to-{other.slug}", {
            "region": self.site.region, "remoteCidr": other.site.cidr,
        }, pulumi.ResourceOptions(parent=self))


class FakeStoreAccess:
    """FakeCloud's buckets as sync jobs reach them (components.sync.StoreAccess): one grant per
    job side, to the job's service account by its cluster's issuer."""

    def __init__(self, buckets: Mapping[tuple[str, str], pulumi.CustomResource], parent: pulumi.Resource) -> None:
        self.buckets = buckets
        self.parent = parent

    def grant(
        self, job: SyncJobPlan, *, writer: bool, site: JobSite, remote: str
    ) -> tuple[Remote, Sequence[pulumi.Resource]]:
        region = job.copy_region if writer else job.home_region
        bucket = self.buckets[(job.dataset, region)]
        side = "write" if writer else "read"
        grant = pulumi.CustomResource(GRANT, f"{job.dataset}-{region}-sync-{side}", {
            "region": region, "bucketId": bucket.id, "issuer": site.issuer, "subject": job.subject,
            "access": side,
        }, pulumi.ResourceOptions(parent=self.parent))
        prefix = f"RCLONE_CONFIG_{remote.upper()}_"
        env: dict[str, pulumi.Input[str]] = {f"{prefix}TYPE": "s3", f"{prefix}ENDPOINT": f"https://{region}.fake-blob.example"}
        return Remote(remote, bucket.id, env, "fakecloud", token_file(remote)), [grant]


def build_fake(
    plan: FleetPlan, parent: pulumi.Resource, board: LinkBoard | None = None,
    sync: SyncBoard | None = None,
) -> Mapping[str, pulumi.Output[object]]:
    """Per region a network, a cluster, a pool per placement, a bucket per dataset copy, its
    gateway on the link board and, in the second stage, the GPU layer and its sync job site."""
    tags = {"fleet": plan.fleet, "stack": plan.stack}
    outputs: dict[str, pulumi.Output[object]] = {}
    buckets: dict[tuple[str, str], pulumi.CustomResource] = {}
    opts = pulumi.ResourceOptions(parent=parent)
    for region in plan.regions(NAME):
        network = pulumi.CustomResource(NETWORK, f"net-{region}", {
            "region": region, "cidr": plan.network(NAME, region).cidr, "tags": tags}, opts)
        cluster = pulumi.CustomResource(CLUSTER, f"cluster-{region}", {
            "region": region, "networkId": network.id, "tags": tags, "kubeconfig": None, "oidcIssuer": None}, opts)
        targets: list[GpuPoolTarget] = []
        for placement in plan.placements_in(NAME, region):
            pulumi.CustomResource(POOL, f"{placement.pool}-{region}", {
                "region": region, "clusterId": cluster.id, "instanceType": placement.instance_type,
                "nodeCount": placement.nodes, "tags": tags}, opts)
            targets.append(GpuPoolTarget(placement.pool, (GPU_TAINT,)))
        for copy in plan.storage_in(NAME, region):
            buckets[(copy.name, region)] = pulumi.CustomResource(BUCKET, f"{copy.name}-{region}", {
                "region": region, "publicRead": False, "tags": tags},
                pulumi.ResourceOptions(parent=parent, protect=copy.protect))
        if board is not None:  # a gateway: it terminates the other clouds' tunnels
            site = board.link.site(f"{NAME}/{region}")
            board.gateways[site.key] = FakeGateway(site, tags, parent)
        if plan.cluster_software:
            kubeconfig = output(cluster, "kubeconfig").apply(str)
            layer = GpuLayer(
                f"fk-{region}",
                GpuLayerArgs(context=context_name(plan.fleet, NAME, region), region=region,
                             kubeconfig=kubeconfig, targets=targets,
                             system=SystemPlacement({"fake.example/role": "system"})),
                opts,
            )
            issuer = output(cluster, "oidcIssuer").apply(str)
            if sync is not None and sync.runs_in(NAME, region) and layer.provider is not None:
                sync.sites[f"{NAME}/{region}"] = JobSite(f"fk-{region}", layer.provider, issuer)
        outputs[f"{NAME}/{region}/clusterId"] = cluster.id
    if sync is not None:
        sync.stores[NAME] = FakeStoreAccess(buckets, parent)
    return outputs
