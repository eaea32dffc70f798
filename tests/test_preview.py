"""The recording engine: what it records, secrets, fresh state per run, duplicate URNs."""

from __future__ import annotations

import gc
import logging
import subprocess
import sys
from pathlib import Path

import pulumi
import pytest

from gpufleet.preview import DuplicateUrnError, record_program


def _bucket_program() -> None:
    import pulumi_aws as aws

    provider = aws.Provider("aws-eu-north-1", region="eu-north-1")
    group = pulumi.ComponentResource("test:index:Group", "group")
    aws.s3.Bucket(
        "data", bucket_prefix="data-",
        opts=pulumi.ResourceOptions(provider=provider, parent=group, protect=True, retain_on_delete=True),
    )
    pulumi.export("password", pulumi.Output.secret("hunter2"))
    pulumi.export("fleet", pulumi.Config("gpufleet").require_object("fleet")["name"])


def test_records_type_name_parent_provider_region_options_and_camelcase_inputs() -> None:
    recording = record_program("unit", {"gpufleet:fleet": {"name": "x"}}, program=_bucket_program)
    [bucket] = recording.by_type("aws:s3/bucket:Bucket")
    [provider] = recording.by_type("pulumi:providers:aws")
    [group] = recording.by_type("test:index:Group")
    assert bucket.urn == "urn:pulumi:unit::gpufleet::test:index:Group$aws:s3/bucket:Bucket::data"
    assert bucket.parent == group.urn
    assert bucket.provider == provider.urn
    assert (bucket.cloud, bucket.region) == ("aws", "eu-north-1")
    assert bucket.protect
    assert bucket.retain_on_delete
    assert bucket.custom
    assert bucket.inputs["bucketPrefix"] == "data-"
    assert not group.custom
    assert group.region is None


def test_stack_outputs_keep_the_secret_mark() -> None:
    recording = record_program("unit", {"gpufleet:fleet": {"name": "x"}}, program=_bucket_program)
    assert recording.outputs == {"password": "hunter2", "fleet": "x"}
    assert recording.secret_outputs == {"password"}


def test_each_run_starts_from_fresh_pulumi_state() -> None:
    first = record_program("one", {"gpufleet:fleet": {"name": "a"}}, program=_bucket_program)
    second = record_program("two", {"gpufleet:fleet": {"name": "b"}}, program=_bucket_program)
    assert len(first.resources) == len(second.resources) == 3
    assert second.outputs["fleet"] == "b"
    assert all(r.urn.startswith("urn:pulumi:two::") for r in second.resources)


def test_duplicate_urn_fails_the_run() -> None:
    def twice() -> None:
        import pulumi_aws as aws

        aws.s3.Bucket("same")
        aws.s3.Bucket("same")

    with pytest.raises(DuplicateUrnError, match=r"duplicate URN urn:pulumi:dup::gpufleet::pulumi:pulumi:Stack\$aws:s3/bucket:Bucket::same"):
        record_program("dup", {}, program=twice)


def test_a_failed_run_leaves_no_unretrieved_future_exceptions(caplog: pytest.LogCaptureFixture) -> None:
    """A duplicate URN fails the run without failing outputs that nobody awaits: those would log
    "Future exception was never retrieved" when collected, during some later test."""
    def twice() -> None:
        import pulumi_aws as aws

        aws.s3.Bucket("same")
        aws.s3.Bucket("same")

    with caplog.at_level(logging.ERROR, logger="asyncio"):
        with pytest.raises(DuplicateUrnError):
            record_program("dup", {}, program=twice)
        record_program("next", {}, program=lambda: None)  # a new run drops the old run's outputs
        gc.collect()
    assert [r.getMessage() for r in caplog.records] == []


def test_secret_inputs_are_masked_in_the_plan_json() -> None:
    def secret_input() -> None:
        import pulumi_aws as aws

        aws.ssm.Parameter("token", type="SecureString", value=pulumi.Output.secret("s3cr3t"))

    recording = record_program("sec", {}, program=secret_input)
    [parameter] = recording.by_type("aws:ssm/parameter:Parameter")
    assert "value" in parameter.secret_inputs
    assert parameter.to_json()["inputs"]["value"] == "[secret]"


def test_a_clean_pass_prints_no_warnings_or_tracebacks() -> None:
    """The recording-engine tests in a fresh pytest: nothing but dots and 'passed'."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-n", "0", "-p", "no:cacheprovider", __file__,
         "-k", "not clean_pass"],
        capture_output=True, text=True, check=False, cwd=Path(__file__).parent.parent,
    )
    assert result.returncode == 0, result.stdout
    assert "warning" not in result.stdout.lower()
    assert "Traceback" not in result.stdout + result.stderr
