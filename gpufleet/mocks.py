"""Mock provider answers for the offline plan: plausible ids and outputs, never a cloud call.

Outputs echo the inputs (as a new resource's state would) plus the few computed properties the
components read (ARNs, ids, names, endpoints), so every output the program uses resolves. Each
cloud's model (gpufleet.clouds) gives its own answers.
"""

from __future__ import annotations

from typing import Any, cast

from pulumi.runtime.mocks import MockCallArgs, MockResourceArgs, Mocks

from gpufleet import clouds

RANDOM_PASSWORD = "random:index/randomPassword:RandomPassword"


class FleetMocks(Mocks):
    """Answers every resource with its inputs plus computed ids; invokes from the cloud models,
    which may read the states answered so far (a cluster's credentials name its region)."""

    def __init__(self) -> None:
        self.created: dict[str, dict[str, Any]] = {}

    def new_resource(self, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        inputs = cast(dict[str, Any], args.inputs)  # pyright: ignore[reportUnknownMemberType]
        state: dict[str, Any] = {"name": args.name, **inputs}
        if args.typ == RANDOM_PASSWORD:  # a fixed stand-in of the asked length, never a real key
            state["result"] = "M0ck" * (int(inputs.get("length", 16)) // 4)
        owner = clouds.owner_of(args.typ)
        answered = owner.mock_state(args, state) if owner else state
        self.created[str(answered.get("name") or args.name)] = answered
        return f"{args.name}-id", answered

    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        # An empty failure list, not None: MockMonitor.Invoke iterates over it.
        owner = clouds.owner_of(args.token)
        given = cast(dict[str, Any], args.args)  # pyright: ignore[reportUnknownMemberType]
        return dict(owner.mock_call(args.token, given, self.created)) if owner else {}, []
