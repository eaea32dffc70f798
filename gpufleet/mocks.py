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
    """Answers every resource with its inputs plus computed ids; known invokes with fixed data."""

    def new_resource(self, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        inputs = cast(dict[str, Any], args.inputs)  # pyright: ignore[reportUnknownMemberType]
        state: dict[str, Any] = {"name": args.name, **inputs}
        if args.typ == RANDOM_PASSWORD:  # a fixed stand-in of the asked length, never a real key
            state["result"] = "M0ck" * (int(inputs.get("length", 16)) // 4)
        owner = clouds.owner_of(args.typ)
        return f"{args.name}-id", owner.mock_state(args, state) if owner else state

    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        # An empty failure list, not None: MockMonitor.Invoke iterates over it.
        owner = clouds.owner_of(args.token)
        return dict(owner.mock_calls.get(args.token, {})) if owner else {}, []
