"""`gpufleet kubeconfig`: one kubeconfig for the whole fleet, a context per cluster.

The clusters' kubeconfigs are the program's stack outputs `<cloud>/<region>/kubeconfig` (exec
credentials: `aws eks get-token` on EKS, `kubelogin --login azurecli` on AKS; no token is stored).
From `pulumi stack output --json --show-secrets` they are merged as they are; offline, the plan's
recorded outputs show the same shape with the server and CA left as placeholders. Contexts are
named `<fleet>-<cloud>-<region>` (a region's later clusters' outputs and contexts add `-c2`, ...:
gpufleet.clusters), and SkyPilot's `kubernetes.allowed_contexts` lists them, so `sky launch`
can place work on any cluster of the fleet.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, cast

import yaml

from gpufleet import clouds, safejson, safeyaml
from gpufleet.errors import CommandLineError, Problem
from gpufleet.safewrite import PRIVATE, write_text

OUTPUT_SUFFIX = "/kubeconfig"


def context_name(fleet: str, cloud: str, region: str) -> str:
    """The kubeconfig context (and SkyPilot context) of one cluster."""
    return f"{fleet}-{cloud}-{region}"


def cluster_outputs(outputs: Mapping[str, Any]) -> dict[tuple[str, str], str]:
    """(cloud, region) -> kubeconfig text, from stack outputs keyed `<cloud>/<region>/kubeconfig`."""
    found: dict[tuple[str, str], str] = {}
    for key, value in outputs.items():
        parts = key.split("/")
        named = len(parts) == 3 and key.endswith(OUTPUT_SUFFIX) and parts[0] in clouds.names()
        if named and isinstance(value, str) and value:
            found[(parts[0], parts[1])] = value
    return dict(sorted(found.items()))


def _first(entries: object, name: object) -> dict[str, Any]:
    """The entry of a kubeconfig list (clusters, users, contexts) named `name`, else the first."""
    given = cast(list[Any], entries) if isinstance(entries, list) else []
    listed = [cast(dict[str, Any], e) for e in given if isinstance(e, dict)]
    return next((e for e in listed if name is None or e.get("name") == name), listed[0] if listed else {})


def _mapping(value: object) -> dict[str, Any]:
    return cast(dict[str, Any], value) if isinstance(value, dict) else {}


def parse_kubeconfig(key: str, text: str) -> dict[str, Any]:
    """One cluster's kubeconfig (YAML or JSON) within the YAML bounds; a malformed one is named
    by its output key, never shown: it may hold a token."""
    try:
        source: object = safeyaml.load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise CommandLineError([Problem(f"--outputs: output {key}", (
            f"not a kubeconfig: its YAML cannot be read{where} (its text is not shown: it may "
            "hold credentials)"
        ))]) from None
    document = cast(dict[str, Any], source) if isinstance(source, dict) else {}
    clusters = cast(list[object], document["clusters"]) if isinstance(document.get("clusters"), list) else []
    servers = [_mapping(_mapping(c).get("cluster")).get("server") for c in clusters]
    lists = all(isinstance(document.get(k, []), list) for k in ("clusters", "users", "contexts"))
    if not lists or not any(isinstance(s, str) and s for s in servers):
        raise CommandLineError([Problem(f"--outputs: output {key}", (
            "not a kubeconfig: expected a mapping whose clusters, users and contexts are lists, "
            "with a cluster that names its server"
        ))])
    return document


def merged_kubeconfig(fleet: str, kubeconfigs: Mapping[tuple[str, str], str], *, redact: bool) -> dict[str, Any]:
    """One kubeconfig with a cluster, user and context per cluster, all named by context_name;
    `redact` replaces the server and CA (what the offline plan cannot know) by placeholders."""
    document: dict[str, Any] = {"apiVersion": "v1", "kind": "Config", "clusters": [], "users": [], "contexts": []}
    for (cloud, region), text in kubeconfigs.items():
        source = parse_kubeconfig(f"{cloud}/{region}{OUTPUT_SUFFIX}", text)
        context = _first(source.get("contexts"), source.get("current-context"))
        refs = _mapping(context.get("context"))
        cluster = _mapping(_first(source.get("clusters"), refs.get("cluster")).get("cluster"))
        user = _mapping(_first(source.get("users"), refs.get("user")).get("user"))
        name = context_name(fleet, cloud, region)
        if redact:
            cluster = {"server": f"https://{name}.invalid"}
        document["clusters"].append({"name": name, "cluster": cluster})
        document["users"].append({"name": name, "user": user})
        document["contexts"].append({"name": name, "context": {"cluster": name, "user": name}})
    if document["contexts"]:
        document["current-context"] = document["contexts"][0]["name"]
    return document


def skypilot_config(contexts: Iterable[str]) -> dict[str, Any]:
    """The `~/.sky/config.yaml` entry that lets SkyPilot use every context of the fleet
    (docs.skypilot.co, "Multiple Kubernetes clusters": kubernetes.allowed_contexts)."""
    return {"kubernetes": {"allowed_contexts": list(contexts)}}


def read_outputs(path: Path) -> dict[str, Any]:
    """`pulumi stack output --json --show-secrets` as written to a file; errors name --outputs."""
    data: object = safejson.read(path, "stack outputs file", CommandLineError, f"--outputs {path}")
    if not isinstance(data, dict):
        raise CommandLineError(
            [Problem(f"--outputs {path}", "expected the JSON object of `pulumi stack output --json`")]
        )
    values = cast(dict[str, Any], data)
    if any(v == "[secret]" for k, v in values.items() if k.endswith(OUTPUT_SUFFIX)):
        raise CommandLineError([Problem(
            f"--outputs {path}", "the kubeconfigs are masked; write the file with "
            "`pulumi stack output --json --show-secrets`",
        )])
    return values


def render(fleet: str, kubeconfigs: Mapping[tuple[str, str], str], *, redact: bool) -> tuple[str, str]:
    """(kubeconfig YAML, SkyPilot YAML); an empty set of clusters is a mistake worth naming."""
    if not kubeconfigs:
        raise CommandLineError([Problem("kubeconfig", "no <cloud>/<region>/kubeconfig output found")])
    document = merged_kubeconfig(fleet, kubeconfigs, redact=redact)
    head = (
        "# gpufleet kubeconfig, offline preview: servers and CAs are known after `pulumi up`;\n"
        "# then run `pulumi stack output --json --show-secrets > outputs.json` and\n"
        "# `gpufleet kubeconfig --stack NAME --outputs outputs.json --out ~/.kube/gpufleet`.\n"
        if redact else ""
    )
    contexts = [c["name"] for c in document["contexts"]]
    return (
        head + yaml.safe_dump(document, sort_keys=False),
        yaml.safe_dump(skypilot_config(contexts), sort_keys=False),
    )


def write_private(path: Path, text: str) -> None:
    """Write a kubeconfig readable by its owner only (it names private endpoints and CAs)."""
    write_text(path, text, mode=PRIVATE)
