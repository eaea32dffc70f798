"""The recording engine: run the Pulumi program in-process under mocks and record every resource.

This is what `gpufleet plan` and the tests use in place of `pulumi preview`: the same program
(gpufleet/program.py, which the root `__main__.py` runs under `pulumi up`), the same stack
config, no CLI, no cloud. Each run gets a fresh contextvars context
and event loop, so runs never share Pulumi's global state, and a duplicate URN fails the run
(the plain mock engine silently overwrites it; the real engine would refuse the program).
"""

from __future__ import annotations

import asyncio
import contextvars
import datetime
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any, cast

from gpufleet.errors import GpufleetError

PROJECT = "gpufleet"


class DuplicateUrnError(GpufleetError):
    """Two resources share a URN: the program is wrong, and `pulumi up` would refuse it."""

    exit_code = 1


@dataclass(frozen=True)
class RecordedResource:
    """A resource as the engine would see it: type token, names, options and camelCase inputs."""

    urn: str
    type: str
    name: str
    parent: str
    provider: str
    custom: bool
    protect: bool
    retain_on_delete: bool
    ignore_changes: tuple[str, ...]
    inputs: Mapping[str, Any]
    secret_inputs: frozenset[str] = frozenset()
    cloud: str | None = None
    region: str | None = None
    dependencies: tuple[str, ...] = ()
    """URNs of the resources its inputs (or dependsOn) use: what a replacement takes down."""

    @property
    def is_provider(self) -> bool:
        return self.type.startswith("pulumi:providers:")

    def to_json(self) -> dict[str, Any]:
        """The plan's `resources[]` shape (docs/design.md contract), secrets masked."""
        inputs = {k: ("[secret]" if k in self.secret_inputs else v) for k, v in self.inputs.items()}
        return {
            "urn": self.urn, "type": self.type, "name": self.name, "parent": self.parent,
            "provider": self.provider, "cloud": self.cloud, "region": self.region,
            "protect": self.protect, "retain_on_delete": self.retain_on_delete,
            "inputs": inputs, "dependencies": list(self.dependencies),
        }


@dataclass
class Recording:
    stack: str
    resources: list[RecordedResource] = field(default_factory=list[RecordedResource])
    outputs: dict[str, Any] = field(default_factory=dict[str, Any])
    secret_outputs: set[str] = field(default_factory=set[str])
    result: Any = None  # what the program returned: the FleetPlan, for the fleet program

    def by_type(self, type_token: str) -> list[RecordedResource]:
        return [r for r in self.resources if r.type == type_token]

    def get(self, urn: str) -> RecordedResource:
        return next(r for r in self.resources if r.urn == urn)


# The plan's `cloud` of Kubernetes resources: they live in a cluster of either cloud (their
# `region` is their cluster's, through their provider).
KUBERNETES_CLOUD = "k8s"


def _cloud_of(type_token: str) -> str | None:
    from gpufleet import clouds

    owner = clouds.owner_of(type_token)
    if owner is None and type_token.removeprefix("pulumi:providers:").split(":")[0] == "kubernetes":
        return KUBERNETES_CLOUD
    return owner.name if owner else None


def _plain(value: Any) -> tuple[Any, bool]:
    """Unwrap Pulumi's secret envelopes; say whether any part was secret."""
    from pulumi.runtime import rpc

    if rpc.is_rpc_secret(value):
        return rpc.unwrap_rpc_secret(value), True
    if isinstance(value, dict):
        secret = False
        out: dict[str, Any] = {}
        for key, item in cast(dict[str, Any], value).items():
            out[key], item_secret = _plain(item)
            secret = secret or item_secret
        return out, secret
    if isinstance(value, list):
        pairs = [_plain(item) for item in cast(list[Any], value)]
        return [p[0] for p in pairs], any(p[1] for p in pairs)
    return value, False


OnRegister = Callable[[RecordedResource], None]


def _make_monitor(recording: Recording, mocks: Any, on_register: OnRegister | None = None) -> Any:
    from pulumi.runtime import rpc
    from pulumi.runtime.mocks import MockMonitor

    class RecordingMonitor(MockMonitor):
        """MockMonitor that also records what the engine would receive."""

        def __init__(self) -> None:
            super().__init__(mocks)
            self.seen: set[str] = set()
            self.duplicates: list[str] = []
            self.provider_regions: dict[str, str | None] = {}
            self.regions: dict[str, str | None] = {}

        def RegisterResource(self, request: Any) -> Any:
            urn = self.make_urn(request.parent, request.type, request.name)
            if request.type == "pulumi:pulumi:Stack":
                return super().RegisterResource(request)  # pyright: ignore[reportUnknownMemberType]
            if urn in self.seen:
                # Raising here would fail every output of the resource, and the outputs nobody
                # awaits log "Future exception was never retrieved"; the run fails after it ends.
                self.duplicates.append(urn)
                return super().RegisterResource(request)  # pyright: ignore[reportUnknownMemberType]
            self.seen.add(urn)
            raw = rpc.deserialize_properties(request.object, keep_unknowns=True)
            inputs: dict[str, Any] = {}
            secrets: set[str] = set()
            for key, value in raw.items():
                inputs[key], secret = _plain(value)
                if secret:
                    secrets.add(key)
            provider_urn = request.provider.split("::")[:-1]
            provider = "::".join(provider_urn)
            region = self._region(inputs, provider, request.parent)
            self.regions[urn] = region
            if request.type.startswith("pulumi:providers:"):
                # A provider without a region of its own (kubernetes) serves its parent's region.
                self.provider_regions[urn] = region
            resource = RecordedResource(
                urn=urn,
                type=request.type,
                name=request.name,
                parent=request.parent,
                provider=provider,
                custom=bool(request.custom),
                protect=bool(request.protect),
                retain_on_delete=bool(request.retainOnDelete),
                ignore_changes=tuple(request.ignoreChanges),
                inputs=inputs,
                secret_inputs=frozenset(secrets),
                cloud=_cloud_of(request.type),
                region=region,
                dependencies=tuple(sorted(set(request.dependencies))),
            )
            recording.resources.append(resource)
            if on_register is not None:
                on_register(resource)
            return super().RegisterResource(request)  # pyright: ignore[reportUnknownMemberType]

        def _region(self, inputs: Mapping[str, Any], provider: str, parent: str) -> str | None:
            """Own `region`/`location`, else the explicit provider's region, else the parent's."""
            own = inputs.get("region") or inputs.get("location")
            if isinstance(own, str):
                return own
            if provider in self.provider_regions:
                return self.provider_regions[provider]
            return self.regions.get(parent)

        def RegisterResourceOutputs(self, request: Any) -> Any:
            if request.urn.split("::")[2] == "pulumi:pulumi:Stack":
                raw = rpc.deserialize_properties(request.outputs, keep_unknowns=True)
                for key, value in raw.items():
                    recording.outputs[key], secret = _plain(value)
                    if secret:
                        recording.secret_outputs.add(key)
            return super().RegisterResourceOutputs(request)  # pyright: ignore[reportUnknownMemberType]

    return RecordingMonitor()


def _default_mocks() -> Any:
    from gpufleet.mocks import FleetMocks

    return FleetMocks()


def run_program(
    stack: str,
    config: Mapping[str, Any],
    program: Callable[[], object],
    monitor: Any,
    project: str = PROJECT,
) -> object:
    """Run a program under a mock `monitor` in a fresh context and event loop; return what
    the program returned."""
    found: list[object] = []

    def run() -> None:
        import pulumi.runtime
        from pulumi.runtime.config import set_all_config
        from pulumi.runtime.settings import ROOT, SETTINGS
        from pulumi.runtime.stack import run_in_stack

        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        cast(Any, SETTINGS).outputs.clear()  # process-wide: a failed run may have left tasks
        try:
            pulumi.runtime.set_mocks(
                monitor.mocks, project=project, stack=stack, preview=False, monitor=monitor
            )
            ROOT.set(None)  # set_mocks made a root stack; run_in_stack makes the real one
            set_all_config(
                {k: v if isinstance(v, str) else json.dumps(v, default=_yaml_day) for k, v in config.items()}, []
            )

            def program_body() -> None:
                found.append(program())

            loop.run_until_complete(run_in_stack(program_body))
        finally:
            # A failed run leaves registrations in flight: settle them before closing the loop.
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            asyncio.set_event_loop(None)
            loop.close()

    contextvars.Context().run(run)
    return found[0] if found else None


def record_program(
    stack: str,
    config: Mapping[str, Any],
    program: Callable[[], object] | None = None,
    mocks: Any = None,
    project: str = PROJECT,
    *,
    on_register: OnRegister | None = None,
) -> Recording:
    """Run `program` (the fleet program unless a test passes its own) for `stack` with `config`
    (full keys, e.g. 'gpufleet:fleet') and record every resource it registers; `on_register`
    hears of each one as it is registered (progress on a terminal)."""
    if program is None:
        from gpufleet.program import fleet_program, installed_declare  # loads Pulumi: only when planning

        program = partial(fleet_program, installed_declare())
    recording = Recording(stack=stack)
    monitor = _make_monitor(recording, mocks if mocks is not None else _default_mocks(), on_register)
    recording.result = run_program(stack, config, program, monitor, project)
    if monitor.duplicates:
        urn = monitor.duplicates[0]
        raise DuplicateUrnError(f"duplicate URN {urn}: two resources share a name and type")
    return recording


def _yaml_day(value: object) -> str:
    """A day YAML read as a date (`start: 2027-01-04`), as the Pulumi CLI passes it: text."""
    if isinstance(value, datetime.date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not a configuration value")
