"""`gpufleet:aws:Network`: one VPC per region, private nodes, NAT-only public subnets, flow logs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.aws import decisions, layout


@dataclass(frozen=True, slots=True)
class NetworkArgs:
    region: str
    cidr: str
    zones: tuple[str, ...]
    nat_gateways: int
    pod_blocks: tuple[str, ...] = ()
    """A grown VPC's pod blocks, per cluster and zone (`NetworkPlan.pod_blocks`)."""
    local_zone: str | None = None
    """A Local Zone whose node groups need a private subnet (`layout.local_zone_subnet`)."""


class Network(pulumi.ComponentResource):
    """VPC with the plan's block; private subnets (nodes, pods) in every zone, and in the Local
    Zone a rack needs, route out through NAT gateways in small public subnets; S3 stays on a
    gateway endpoint; the default security group has no rules; all traffic is logged to a
    KMS-encrypted CloudWatch log group. Also turns on EBS encryption by default for the region
    (EC2.7)."""

    vpc_id: pulumi.Output[str]
    private_subnet_ids: dict[str, pulumi.Output[str]]
    pod_subnet_ids: dict[int, dict[str, pulumi.Output[str]]]
    """Cluster (from 1) -> zone -> its pod subnet, in a grown VPC (EKS custom networking)."""
    private_route_table_ids: dict[str, pulumi.Output[str]]
    logs_key_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("gpufleet:aws:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        subnets = layout.subnet_layout(args.cidr, args.zones)
        nat_zones = layout.nat_zones(args.zones, args.nat_gateways)
        account_id = aws.get_caller_identity_output(
            opts=pulumi.InvokeOutputOptions(parent=self)
        ).account_id

        aws.ebs.EncryptionByDefault(
            f"{name}-ebs-encryption",
            enabled=True,
            # Account-wide per region: destroying one stack must not switch it off for all.
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
        )

        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args.cidr,
            enable_dns_support=True,
            enable_dns_hostnames=True,
            tags={"Name": name},
            opts=child,
        )
        aws.ec2.DefaultSecurityGroup(
            f"{name}-default-sg", vpc_id=vpc.id, ingress=[], egress=[], opts=child
        )
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags={"Name": name}, opts=child)

        public_rt = aws.ec2.RouteTable(
            f"{name}-public", vpc_id=vpc.id, tags={"Name": f"{name}-public"}, opts=child
        )
        aws.ec2.Route(
            f"{name}-public-default",
            route_table_id=public_rt.id,
            destination_cidr_block="0.0.0.0/0",
            gateway_id=igw.id,
            opts=child,
        )
        nats: dict[str, aws.ec2.NatGateway] = {}
        for zone in args.zones:
            subnet = aws.ec2.Subnet(
                f"{name}-public-{zone}",
                vpc_id=vpc.id,
                cidr_block=subnets.public[zone],
                availability_zone=zone,
                map_public_ip_on_launch=False,
                tags={"Name": f"{name}-public-{zone}"},
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{zone}",
                subnet_id=subnet.id,
                route_table_id=public_rt.id,
                opts=child,
            )
            if zone in nat_zones:
                eip = aws.ec2.Eip(
                    f"{name}-nat-{zone}",
                    domain="vpc",
                    tags={"Name": f"{name}-nat-{zone}"},
                    opts=child,
                )
                nats[zone] = aws.ec2.NatGateway(
                    f"{name}-nat-{zone}",
                    allocation_id=eip.id,  # a VPC address's id is its allocation id
                    subnet_id=subnet.id,
                    connectivity_type="public",
                    tags={"Name": f"{name}-nat-{zone}"},
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[igw]),
                )

        private_rts: list[pulumi.Output[str]] = []
        self.private_subnet_ids = {}
        self.private_route_table_ids = {}
        for zone in args.zones:
            nat = nats[layout.nat_for_zone(zone, args.zones, nat_zones)]
            private_rts.append(self._private_subnet(name, vpc, zone, subnets.private[zone], nat))
        if args.local_zone is not None:
            # Appended: a block no other subnet uses, so adding it moves nothing. Its traffic
            # leaves through the Region's first NAT gateway (Local Zones have no NAT of ours).
            # Kept off the S3 gateway endpoint, whose use from a Local Zone is not confirmed.
            self._private_subnet(
                name, vpc, args.local_zone, layout.local_zone_subnet(args.cidr, args.zones), nats[nat_zones[0]]
            )
        self.pod_subnet_ids = {}
        pod_subnets = layout.pod_subnet_layout(args.pod_blocks, args.zones)
        if args.local_zone is not None and args.pod_blocks:  # its pods too: an ENIConfig of its own
            pod_subnets[(1, args.local_zone)] = layout.local_zone_pod_block()
        for (cluster, zone), block in pod_subnets.items():
            stem = f"{name}-pods{decisions.cluster_suffix(cluster)}-{zone}"
            # A secondary CIDR block, then its subnet: the VPC and its primary block stay as
            # they are (growth only adds).
            association = aws.ec2.VpcIpv4CidrBlockAssociation(
                f"{stem}-block", vpc_id=vpc.id, cidr_block=block, opts=child
            )
            pods = aws.ec2.Subnet(
                stem,
                vpc_id=vpc.id,
                cidr_block=block,
                availability_zone=zone,
                map_public_ip_on_launch=False,
                tags={"Name": stem},
                opts=pulumi.ResourceOptions(parent=self, depends_on=[association]),
            )
            aws.ec2.RouteTableAssociation(
                stem, subnet_id=pods.id, route_table_id=self.private_route_table_ids[zone], opts=child
            )
            self.pod_subnet_ids.setdefault(cluster, {})[zone] = pods.id

        aws.ec2.VpcEndpoint(
            f"{name}-s3",
            vpc_id=vpc.id,
            service_name=f"com.amazonaws.{args.region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=private_rts,
            tags={"Name": f"{name}-s3"},
            opts=child,
        )

        logs_key = aws.kms.Key(
            f"{name}-logs",
            description=f"{name}: CloudWatch Logs (VPC flow logs, EKS control plane)",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=account_id.apply(
                lambda account: decisions.logs_key_policy(account, args.region)
            ),
            opts=child,
        )
        flow_group = aws.cloudwatch.LogGroup(
            f"{name}-flow-logs",
            retention_in_days=decisions.LOG_RETENTION_DAYS,
            kms_key_id=logs_key.arn,
            opts=child,
        )
        flow_role = aws.iam.Role(
            decisions.bounded(f"{name}-flow-logs", decisions.AUTONAMED_MAX),
            assume_role_policy=account_id.apply(decisions.flow_logs_trust_policy),
            description=f"{name}: VPC flow logs write to their log group",
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-flow-logs",
            role=flow_role.id,
            policy=flow_group.arn.apply(decisions.flow_logs_policy),
            opts=child,
        )
        aws.ec2.FlowLog(
            f"{name}-flow-logs",
            vpc_id=vpc.id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=flow_group.arn,
            iam_role_arn=flow_role.arn,
            max_aggregation_interval=60,
            tags={"Name": f"{name}-flow-logs"},
            opts=child,
        )

        self.vpc_id = vpc.id
        self.logs_key_arn = logs_key.arn
        self.register_outputs(
            {
                "vpcId": self.vpc_id,
                "privateSubnetIds": self.private_subnet_ids,
                "logsKeyArn": self.logs_key_arn,
            }
        )

    def _private_subnet(
        self, name: str, vpc: aws.ec2.Vpc, zone: str, cidr: str, nat: aws.ec2.NatGateway
    ) -> pulumi.Output[str]:
        """A zone's private subnet and its route table (default route through `nat`); records
        both under the zone and returns the route table's id."""
        child = pulumi.ResourceOptions(parent=self)
        subnet = aws.ec2.Subnet(
            f"{name}-private-{zone}",
            vpc_id=vpc.id,
            cidr_block=cidr,
            availability_zone=zone,
            map_public_ip_on_launch=False,
            tags={"Name": f"{name}-private-{zone}", "kubernetes.io/role/internal-elb": "1"},
            opts=child,
        )
        rt = aws.ec2.RouteTable(
            f"{name}-private-{zone}", vpc_id=vpc.id, tags={"Name": f"{name}-private-{zone}"}, opts=child
        )
        aws.ec2.Route(
            f"{name}-private-{zone}-default",
            route_table_id=rt.id,
            destination_cidr_block="0.0.0.0/0",
            nat_gateway_id=nat.id,
            opts=child,
        )
        aws.ec2.RouteTableAssociation(f"{name}-private-{zone}", subnet_id=subnet.id, route_table_id=rt.id, opts=child)
        self.private_route_table_ids[zone] = rt.id
        self.private_subnet_ids[zone] = subnet.id
        return rt.id

    def subnets(self, zones: Sequence[str]) -> list[pulumi.Output[str]]:
        """Private subnet ids of the given zones, in that order."""
        return [self.private_subnet_ids[zone] for zone in zones]
