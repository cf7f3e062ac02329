"""Check the deployment files offline: ``python -m deploy.validate`` (``make validate-deploy``).

- every Kubernetes manifest under ``deploy/k8s`` against the Kubernetes API's JSON schemas
  that the ``kubernetes-validate`` package ships (strict: unknown fields are errors), for
  ``--kubernetes-version``; the Kustomization's resources and replica counts; the KEDA
  ScaledObject example's shape (its schema is KEDA's, not shipped: checked by hand here);
- workers never outnumber the partitions (``SHOPSTREAM_TOPIC_PARTITIONS`` of the
  ``shopstream-config`` ConfigMap): the worker's replicas, the Kustomization's override and
  the ScaledObject's ``maxReplicaCount``;
- ``docker-compose.yml`` against the Compose Specification's JSON schema that the
  ``check-jsonschema`` package ships.

Nothing is fetched from the network. Exit status 1 when anything fails, with one line per
problem.
"""

from __future__ import annotations

import argparse
import importlib.resources
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

from deploy.replicas import replica_warnings
from models.settings import Settings

REPO = Path(__file__).resolve().parents[1]
KUBERNETES_VERSION = "1.30"
CONFIG_MAP = "shopstream-config"
NOT_KUBERNETES = {"kustomize.config.k8s.io", "keda.sh"}  # checked here, not by API schemas


def documents(path: Path) -> Iterator[dict[str, Any]]:
    for doc in yaml.safe_load_all(path.read_text()):
        if doc is not None:
            yield doc


def name_of(doc: dict[str, Any]) -> str:
    return f"{doc.get('kind', '?')}/{(doc.get('metadata') or {}).get('name', '?')}"


def runs_worker(doc: dict[str, Any]) -> bool:
    """A StatefulSet or Deployment whose pods run ``shopstream worker``."""
    if doc.get("kind") not in {"StatefulSet", "Deployment"}:
        return False
    containers = (((doc.get("spec") or {}).get("template") or {}).get("spec") or {}).get(
        "containers") or []
    return any((c.get("args") or [None])[0] == "worker" for c in containers)


def check_manifests(k8s: Path, version: str = KUBERNETES_VERSION) -> list[str]:
    """Every problem found in the manifests under ``k8s``, one line each."""
    problems: list[str] = []
    docs: dict[Path, list[dict[str, Any]]] = {}
    for path in sorted(k8s.rglob("*.yaml")):
        where = path.relative_to(k8s)
        try:
            docs[path] = list(documents(path))
        except yaml.YAMLError as exc:
            problems.append(f"{where}: not YAML: {exc}")
            continue
        for doc in docs[path]:
            if not isinstance(doc, dict) or "apiVersion" not in doc or "kind" not in doc:
                problems.append(f"{where}: a document without apiVersion and kind")
            elif doc["apiVersion"].split("/")[0] not in NOT_KUBERNETES:
                problems.extend(f"{where}: {p}" for p in _api_schema(doc, version))
    everything = [doc for found in docs.values() for doc in found if isinstance(doc, dict)]
    try:
        problems.extend(_partitions_bound(everything))
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        problems.append(f"cannot tell replicas from partitions: {type(exc).__name__}: {exc}")
    for path, found in docs.items():
        for doc in found:
            if isinstance(doc, dict) and doc.get("kind") == "Kustomization":
                problems.extend(f"{path.relative_to(k8s)}: {p}"
                                for p in _kustomization(path.parent, doc, docs))
    return problems


def _api_schema(doc: dict[str, Any], version: str) -> list[str]:
    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = ".".join(str(p) for p in exc.path) or "(top)"
        return [f"{name_of(doc)}: {path}: {exc.message}"]
    except (kubernetes_validate.SchemaNotFoundError, kubernetes_validate.InvalidSchemaError) as exc:
        return [f"{name_of(doc)}: no Kubernetes {version} schema: {exc}"]
    return []


def partitions_of(docs: list[dict[str, Any]]) -> int:
    """The partition count the manifests configure (the setting's default when unset)."""
    for doc in docs:
        if doc.get("kind") == "ConfigMap" and (doc.get("metadata") or {}).get("name") == CONFIG_MAP:
            value = (doc.get("data") or {}).get("SHOPSTREAM_TOPIC_PARTITIONS")
            if value is not None:
                return int(value)
    return int(Settings.model_fields["topic_partitions"].default)


def _partitions_bound(docs: list[dict[str, Any]]) -> list[str]:
    partitions = partitions_of(docs)
    workers = {(doc.get("metadata") or {}).get("name") for doc in docs if runs_worker(doc)}
    counts: list[tuple[str, int]] = []
    for doc in docs:
        kind, spec = doc.get("kind"), doc.get("spec") or {}
        if runs_worker(doc):
            counts.append((f"{name_of(doc)} replicas", int(spec.get("replicas", 1))))
        elif kind == "Kustomization":
            counts.extend((f"Kustomization replicas of {r['name']}", int(r["count"]))
                          for r in doc.get("replicas") or [] if r.get("name") in workers)
        elif kind == "ScaledObject":
            target = (spec.get("scaleTargetRef") or {}).get("name")
            if target not in workers:
                return [f"{name_of(doc)}: scaleTargetRef names {target!r}, not a worker "
                        f"({', '.join(sorted(workers)) or 'none found'})"]
            if "maxReplicaCount" not in spec:
                return [f"{name_of(doc)}: no maxReplicaCount: KEDA's default (100) would "
                        f"outnumber the {partitions} partitions"]
            counts.append((f"{name_of(doc)} maxReplicaCount", int(spec["maxReplicaCount"])))
    return [f"too many replicas: {what}: {warning}"
            for what, count in counts for warning in replica_warnings(count, partitions)]


def _kustomization(folder: Path, doc: dict[str, Any],
                   docs: dict[Path, list[dict[str, Any]]]) -> list[str]:
    problems = []
    listed = []
    for resource in doc.get("resources") or []:
        path = (folder / resource).resolve()
        if path not in docs:
            problems.append(f"resource {resource} is not a manifest here")
        else:
            listed.extend(docs[path])
    names = {(d.get("metadata") or {}).get("name") for d in listed if isinstance(d, dict)}
    problems.extend(f"replicas: {r.get('name')!r} is no resource of the kustomization"
                    for r in doc.get("replicas") or [] if r.get("name") not in names)
    return problems


def compose_schema() -> dict[str, Any]:
    """The Compose Specification's JSON schema, as vendored by check-jsonschema."""
    vendor = importlib.resources.files("check_jsonschema") / "builtin_schemas" / "vendor"
    schema: dict[str, Any] = json.loads((vendor / "compose-spec.json").read_text())
    return schema


def check_compose(path: Path) -> list[str]:
    try:
        compose = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        return [f"{path.name}: not YAML: {exc}"]
    validator = jsonschema.Draft7Validator(compose_schema())
    return [f"{path.name}: {'.'.join(str(p) for p in error.absolute_path) or '(top)'}: "
            f"{error.message}"
            for error in sorted(validator.iter_errors(compose), key=lambda e: list(e.path))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.validate", description=__doc__.split(
        "\n")[0])
    parser.add_argument("--k8s", type=Path, default=REPO / "deploy" / "k8s")
    parser.add_argument("--compose", type=Path, default=REPO / "docker-compose.yml")
    parser.add_argument("--kubernetes-version", default=KUBERNETES_VERSION)
    args = parser.parse_args(argv)
    manifests = check_manifests(args.k8s, args.kubernetes_version)
    compose = check_compose(args.compose)
    for problem in manifests + compose:
        print(problem, file=sys.stderr)
    count = sum(1 for path in args.k8s.rglob("*.yaml") for _ in documents(path))
    print(f"Kubernetes {args.kubernetes_version} manifests in {args.k8s}: {count} documents, "
          f"{len(manifests)} problem(s); {args.compose.name}: {len(compose)} problem(s)")
    return 1 if manifests or compose else 0


if __name__ == "__main__":
    sys.exit(main())
