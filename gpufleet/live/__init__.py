"""Live look-ups: quotas (and prices) from the clouds' own APIs, for `gpufleet quotas --live`,
`plan --live-quotas` and `catalog refresh`.

This module is pure (no SDK import): the data a look-up returns, the bounded parallel runner,
and how live quotas fill the spec's undeclared buckets. Each cloud's calls live in its own
module (`gpufleet.clouds.aws.live`, `gpufleet.clouds.azure.live`), named by its CloudModel's
`live_module` and imported only when a look-up runs, so `gpufleet --help` and the offline plan never load
boto3 or the Azure SDK.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar, cast

from gpufleet import clouds
from gpufleet.errors import GpufleetError

WORKERS = 8
"""Regions queried at once: bounded, so 80 regions never open 80 connections or trip the
clouds' per-account rate limits (each call also retries throttling, see the cloud modules)."""
CALL_TIMEOUT_SECONDS = 30.0
"""Longest one region's look-up may take, retries included, before it is reported as failed."""

T = TypeVar("T")


class NoCredentialsError(GpufleetError):
    """No way to ask a cloud: no credentials in the standard chain, or its SDK is not installed
    (the `live` extra). A one-line message, exit 2 (`plan` warns and uses declared values)."""


@dataclass(frozen=True, slots=True)
class LiveQuota:
    """One quota bucket as the cloud reports it: limit and current use in vCPUs, and where and
    when that came from. `limit_vcpus` None: the bucket does not exist in that region."""

    cloud: str
    region: str
    bucket: str
    limit_vcpus: int | None
    used_vcpus: int
    source: str
    fetched_at: str

    @property
    def headroom(self) -> int | None:
        """What a plan may still draw: limit − usage (never below 0)."""
        return None if self.limit_vcpus is None else max(0, self.limit_vcpus - self.used_vcpus)

    @property
    def label(self) -> str:
        return f"{self.source} at {self.fetched_at}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class RegionFailure:
    cloud: str
    region: str
    reason: str


class QuotaLookup(Protocol):
    """What a cloud's live module offers (`gpufleet.clouds.aws.live`, `gpufleet.clouds.azure.live`)."""

    def credentials_problem(self) -> str | None: ...

    def region_quotas(self, region: str, buckets: Sequence[str]) -> list[LiveQuota]: ...


def now() -> str:
    """The look-up time as the plan shows it (UTC, to the second)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def live_module(cloud: str) -> Any:
    """The cloud's live module (quotas and prices), imported now with its SDK; its CloudModel
    names it. Without the SDK (the `live` extra) a one-line NoCredentialsError says so."""
    name = clouds.get(cloud).live_module
    if not name:
        raise NoCredentialsError(f"{cloud} has no live look-up")
    module = importlib.import_module(name)
    missing = [sdk for sdk in getattr(module, "SDK_MODULES", ()) if importlib.util.find_spec(sdk) is None]
    if missing:
        raise NoCredentialsError(
            f"the {clouds.get(cloud).title} look-ups need {', '.join(missing)}, which this install lacks: "
            "pip install 'gpufleet[live]'"
        )
    return module


M = TypeVar("M")


def ready_modules(
    cloud_names: Iterable[str], given: Mapping[str, M] | None, problem: Callable[[M], str | None]
) -> dict[str, M]:
    """Each cloud's live module (a given one first, for tests), its credentials checked once,
    before any call: `problem` says what is missing, a NoCredentialsError reports it."""
    modules: dict[str, M] = dict(given or {})
    for cloud in sorted(set(cloud_names)):
        if cloud not in modules:
            modules[cloud] = cast(M, live_module(cloud))
        if missing := problem(modules[cloud]):
            raise NoCredentialsError(f"no {clouds.get(cloud).title} credentials: {missing}")
    return modules


def in_parallel(
    work: Mapping[str, Callable[[], T]], workers: int = WORKERS, timeout: float = CALL_TIMEOUT_SECONDS
) -> tuple[dict[str, T], dict[str, str]]:
    """Run each named call on a bounded pool; (results, failures) by name. A call that raises
    or outlives `timeout` is a failure with its reason; the others still count."""
    results: dict[str, T] = {}
    failures: dict[str, str] = {}
    pool = ThreadPoolExecutor(max_workers=max(1, min(workers, len(work))), thread_name_prefix="gpufleet-live")
    try:
        futures = {name: pool.submit(call) for name, call in work.items()}
        for name, future in futures.items():
            try:
                results[name] = future.result(timeout=timeout)
            except FutureTimeout:
                failures[name] = f"no answer within {timeout:g} s"
            except NoCredentialsError:
                raise
            except Exception as error:  # an SDK error: report it, keep the other regions
                failures[name] = f"{type(error).__name__}: {error}"
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return results, failures


def live_quotas(
    regions: Iterable[tuple[str, str]], buckets: Mapping[str, Sequence[str]],
    lookups: Mapping[str, QuotaLookup] | None = None,
) -> tuple[list[LiveQuota], list[RegionFailure]]:
    """Every (cloud, region)'s quotas for its cloud's `buckets`, regions in parallel.
    NoCredentialsError when a cloud has no credentials (checked once, before any call)."""
    wanted = sorted(set(regions))
    modules = ready_modules((cloud for cloud, _ in wanted), lookups, lambda m: m.credentials_problem())
    work: dict[str, Callable[[], list[LiveQuota]]] = {
        f"{cloud}/{region}": (lambda c=cloud, r=region: modules[c].region_quotas(r, buckets[c]))
        for cloud, region in wanted
    }
    results, failures = in_parallel(work)
    found = sorted(
        (q for quotas in results.values() for q in quotas), key=lambda q: (q.cloud, q.region, q.bucket)
    )
    failed = [
        RegionFailure(cloud, region, reason)
        for name, reason in sorted(failures.items())
        for cloud, region in [name.split("/", 1)]
    ]
    return found, failed


def quotas_from_json(items: object) -> tuple[LiveQuota, ...]:
    """Live quotas as the program receives them (config `gpufleet:liveQuotas`)."""
    if not isinstance(items, list):
        return ()
    return tuple(LiveQuota(**cast(dict[str, Any], item)) for item in cast(list[object], items))
