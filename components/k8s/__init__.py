"""The in-cluster GPU layer: per cluster a Kubernetes provider and the Helm releases that make
its GPU pools schedulable (device plugin + GPU feature discovery, DCGM exporter, EFA or
InfiniBand). Declared only in the run that can reach the API servers (gpufleet/program.py).

This package imports nothing heavy: `values` and `charts` are pure; the component, which needs
pulumi_kubernetes, is `components.k8s.layer`.
"""

from components.k8s.values import GpuPoolTarget, Taint

__all__ = ["GpuPoolTarget", "Taint"]
