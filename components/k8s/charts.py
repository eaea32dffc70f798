"""The Helm charts of the in-cluster GPU layer, pinned: name, version, repository, namespace.

A version changes only by a reviewed edit here (never "latest"), so `pulumi up` installs what the
plan showed. Each pin names where it was checked; re-check with `helm search repo CHART --versions`
before moving it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Chart:
    name: str
    version: str
    repo: str
    namespace: str
    source: str


# NVIDIA device plugin with GPU feature discovery (subchart `gfd`, and NFD for its labels). Values
# keys (migStrategy, tolerations, affinity, gfd.enabled, nfd.*) from the chart's values.yaml,
# github.com/NVIDIA/k8s-device-plugin deployments/helm/nvidia-device-plugin/values.yaml;
# 0.17.1 is the pin of aws-ia/terraform-aws-eks-blueprints (patterns/targeted-odcr/helm.tf).
DEVICE_PLUGIN = Chart(
    "nvidia-device-plugin", "0.17.1", "https://nvidia.github.io/k8s-device-plugin",
    "gpufleet-gpu", "github.com/NVIDIA/k8s-device-plugin (deployments/helm)",
)
# DCGM exporter: Prometheus GPU metrics on port 9400 (nvidia.github.io/dcgm-exporter, "Helm
# charts for GPU metrics"); keys tolerations, affinity. Version: the chart tracks the exporter
# release (4.8.x in 2026, github.com/NVIDIA/dcgm-exporter releases); not confirmed offline.
DCGM_EXPORTER = Chart(
    "dcgm-exporter", "4.8.2", "https://nvidia.github.io/dcgm-exporter/helm-charts",
    "gpufleet-gpu", "nvidia.github.io/dcgm-exporter",
)
# EFA device plugin (vpc.amazonaws.com/efa resources), from the EKS charts; keys tolerations and
# supportedInstanceLabels.{keys,values} (its node affinity), github.com/aws/eks-charts
# stable/aws-efa-k8s-device-plugin; v0.5.7 is the pin of terraform-aws-eks-blueprints.
EFA_DEVICE_PLUGIN = Chart(
    "aws-efa-k8s-device-plugin", "v0.5.7", "https://aws.github.io/eks-charts",
    "kube-system", "github.com/aws/eks-charts (stable/aws-efa-k8s-device-plugin)",
)
# NVIDIA Network Operator: the AKS InfiniBand path of azure.github.io/aks-rdma-infiniband
# (configurations/network-operator): the operator by Helm, then a NicClusterPolicy with the DOCA
# driver and the RDMA shared device plugin. Images as pinned in Azure/aks-rdma-infiniband
# configs/nicclusterpolicy/ (network-operator-v25.10.0, DOCA doca3.2.0-25.10-1.2.8.0-2).
NETWORK_OPERATOR = Chart(
    "network-operator", "25.10.0", "https://helm.ngc.nvidia.com/nvidia",
    "nvidia-network-operator", "azure.github.io/aks-rdma-infiniband",
)
DOCA_DRIVER_VERSION = "doca3.2.0-25.10-1.2.8.0-2"
RDMA_SHARED_PLUGIN_VERSION = "network-operator-v25.10.0"
MELLANOX_REPOSITORY = "nvcr.io/nvidia/mellanox"
# The AWS Neuron device plugin (aws.amazon.com/neuron, neuroncore) for Trainium and Inferentia
# pools: github.com/aws-neuron/neuron-helm-charts charts/neuron-helm-chart at 8172e5e1 (chart
# 1.0.0, device plugin image 2.22.4.0), published as oci://public.ecr.aws/neuron/neuron-helm-chart.
# Keys: neuronInstances (its DaemonSet's node affinity is on these instance types, not a label),
# devicePlugin.tolerations, scheduler.enabled, npd.enabled. Newer chart versions exist on the ECR
# gallery (1.3.0-1.10.0 named in public scripts); their values were not read here.
NEURON = Chart(
    "neuron-helm-chart", "1.0.0", "oci://public.ecr.aws/neuron/neuron-helm-chart",
    "kube-system", "github.com/aws-neuron/neuron-helm-charts (charts/neuron-helm-chart)",
)
# AMD's device plugin (amd.com/gpu) for MI300X pools: github.com/ROCm/k8s-device-plugin
# helm/amd-gpu at tag amd-gpu-helm-0.21.0 (2025-12-24, device plugin 1.31.0.9), released by
# chart-releaser to the repository's GitHub Pages. Keys: tolerations, node_selector_enabled,
# node_selector (a map: one pool per release), nfd.enabled, labeller.enabled.
AMD_GPU = Chart(
    "amd-gpu", "0.21.0", "https://rocm.github.io/k8s-device-plugin",
    "kube-system", "github.com/ROCm/k8s-device-plugin (helm/amd-gpu)",
)
# NVIDIA's DRA driver, for ComputeDomains (IMEX channels across the nodes of one NVLink domain:
# GB200/GB300 racks): github.com/NVIDIA/k8s-dra-driver-gpu deployments/helm/nvidia-dra-driver-gpu
# at tag v25.12.0 (kubeVersion >= 1.32, DRA enabled: EKS enables it from 1.33 for P6e-GB200,
# docs.aws.amazon.com/eks/latest/userguide/ml-eks-nvidia-ultraserver.html); helm.ngc.nvidia.com/
# nvidia as its tests install it (tests/bats/setup_suite.bash). Keys: resources.gpus.enabled
# (false beside the device plugin: the chart refuses both), resources.computeDomains.enabled,
# nvidiaDriverRoot, controller.{affinity,tolerations}, kubeletPlugin.{affinity,tolerations}.
DRA_DRIVER = Chart(
    "nvidia-dra-driver-gpu", "25.12.0", "https://helm.ngc.nvidia.com/nvidia",
    "nvidia-dra-driver-gpu", "github.com/NVIDIA/k8s-dra-driver-gpu (deployments/helm)",
)
# Cluster Autoscaler for EKS (docs/deploy.md says why it and not Karpenter): chart 9.51.0, the
# last whose appVersion is 1.33.0, the EKS version gpufleet runs (KUBERNETES_VERSION);
# kubernetes/autoscaler tag cluster-autoscaler-chart-9.51.0 (9befb31f), charts/cluster-
# autoscaler/values.yaml: cloudProvider, awsRegion, autoDiscovery.clusterName,
# rbac.serviceAccount.name, nodeSelector, tolerations, extraArgs.
CLUSTER_AUTOSCALER = Chart(
    "cluster-autoscaler", "9.51.0", "https://kubernetes.github.io/autoscaler",
    "kube-system", "github.com/kubernetes/autoscaler (charts/cluster-autoscaler, tag cluster-autoscaler-chart-9.51.0)",
)
# The image of the AKS guide's nvidia-peermem loader (Azure/aks-rdma-infiniband configs/
# nvidia-peermem-reloader/ds.yaml at 700dabb): it installs kmod and loads the module.
PEERMEM_IMAGE = "mcr.microsoft.com/mirror/docker/library/ubuntu:24.04"
