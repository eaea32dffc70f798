"""The gpufleet policy pack: the policies live in gpufleet.policy; this only serves them.

Constructing PolicyPack starts the analyzer's gRPC server and blocks, so nothing imports this.
"""

from pulumi_policy import PolicyPack

from gpufleet.policy.pack import policies

PolicyPack("gpufleet", policies=policies())
