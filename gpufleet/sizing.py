"""The fixed, non-GPU part of every region's cluster: one place for the system pools' sizes.

The components build the system node group (EKS) and system agent pool (AKS) from these
values, and `gpufleet.cost` prices them from the same values, so a change here moves both the
resources and the plan's cost. Pure constants: no Pulumi or cloud SDK import.
"""

from __future__ import annotations

# EKS: a managed node group of small general-purpose nodes for CoreDNS and the add-ons.
AWS_SYSTEM_INSTANCE_TYPE = "m7i.large"
AWS_SYSTEM_MIN_NODES = 2  # min = desired: one per availability zone
AWS_SYSTEM_MAX_NODES = 4  # room for one surge during updates
AWS_SYSTEM_ROOT_GIB = 50

# AKS: the cluster's system-mode agent pool (autoscaled between min and max, created at min).
AZURE_SYSTEM_VM_SIZE = "Standard_D4s_v5"
AZURE_SYSTEM_MIN_NODES = 2
AZURE_SYSTEM_MAX_NODES = 3
