"""The deployment files pass the offline checks, and broken copies of them do not."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from deploy.validate import REPO, check_compose, check_manifests, main, partitions_of

K8S = REPO / "deploy" / "k8s"
COMPOSE = REPO / "docker-compose.yml"


@pytest.fixture
def k8s(tmp_path) -> Path:
    copy = tmp_path / "k8s"
    shutil.copytree(K8S, copy)
    return copy


def edit(path: Path, change) -> None:
    docs = list(yaml.safe_load_all(path.read_text()))
    for doc in docs:
        change(doc)
    path.write_text(yaml.safe_dump_all(docs))


def test_the_shipped_manifests_and_compose_file_pass():
    assert check_manifests(K8S) == []
    assert check_compose(COMPOSE) == []
    assert main([]) == 0


def test_the_worker_reads_clickhouse_from_a_secret_and_shares_the_model_store():
    docs = [d for p in K8S.rglob("*.yaml") for d in yaml.safe_load_all(p.read_text())]
    worker = next(d for d in docs if d["kind"] == "StatefulSet")
    job = next(d for d in docs if d["kind"] == "CronJob")
    container = worker["spec"]["template"]["spec"]["containers"][0]
    url = next(e for e in container["env"] if e["name"] == "CLICKHOUSE_URL")
    assert url["valueFrom"]["secretKeyRef"]["name"] == "shopstream-clickhouse"
    claims = {v["persistentVolumeClaim"]["claimName"]
              for spec in (worker["spec"]["template"]["spec"],
                           job["spec"]["jobTemplate"]["spec"]["template"]["spec"])
              for v in spec["volumes"] if "persistentVolumeClaim" in v}
    assert claims == {"shopstream-models"}
    pvc = next(d for d in docs if d["kind"] == "PersistentVolumeClaim")
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    assert partitions_of(docs) == 12


def test_an_unknown_field_or_a_wrong_type_fails(k8s):
    def break_worker(doc):
        if doc["kind"] == "StatefulSet":
            doc["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
        if doc["kind"] == "Deployment":
            doc["spec"]["replicas"] = "two"
    edit(k8s / "worker.yaml", break_worker)
    edit(k8s / "collector.yaml", break_worker)
    problems = check_manifests(k8s)
    assert any(p.startswith("worker.yaml: StatefulSet/shopstream-worker") and "livenesProbe" in p
               for p in problems), problems
    assert any(p.startswith("collector.yaml: Deployment/shopstream-collector: spec.replicas")
               for p in problems), problems
    assert main(["--k8s", str(k8s)]) == 1


def test_more_workers_than_partitions_fails(k8s):
    def fewer_partitions(doc):
        if doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == "shopstream-config":
            doc["data"]["SHOPSTREAM_TOPIC_PARTITIONS"] = "2"
    edit(k8s / "config.yaml", fewer_partitions)
    problems = check_manifests(k8s)
    assert any("StatefulSet/shopstream-worker replicas: 3 workers for 2 partitions" in p
               for p in problems), problems
    assert any("ScaledObject/shopstream-worker maxReplicaCount: 12 workers for 2 partitions"
               in p for p in problems), problems
    assert any("Kustomization replicas of shopstream-worker: 3 workers" in p for p in problems)


def test_a_scaled_object_without_a_bound_or_on_the_wrong_target_fails(k8s):
    scaled = k8s / "autoscaling" / "keda-scaledobject.yaml"
    edit(scaled, lambda doc: doc["spec"].pop("maxReplicaCount"))
    assert any("no maxReplicaCount" in p for p in check_manifests(k8s))
    edit(scaled, lambda doc: doc["spec"]["scaleTargetRef"].update(name="shopstream-collector"))
    assert any("scaleTargetRef names 'shopstream-collector', not a worker" in p
               for p in check_manifests(k8s))


def test_a_kustomization_naming_what_is_not_there_fails(k8s):
    def dangling(doc):
        doc["resources"].append("missing.yaml")
        doc["replicas"].append({"name": "nobody", "count": 1})
    edit(k8s / "kustomization.yaml", dangling)
    problems = check_manifests(k8s)
    assert "kustomization.yaml: resource missing.yaml is not a manifest here" in problems
    assert "kustomization.yaml: replicas: 'nobody' is no resource of the kustomization" in problems


def test_text_that_is_not_yaml_fails(k8s):
    (k8s / "broken.yaml").write_text("kind: [unclosed\n")
    assert any(p.startswith("broken.yaml: not YAML") for p in check_manifests(k8s))


def test_a_broken_compose_file_fails(tmp_path):
    compose = yaml.safe_load(COMPOSE.read_text())
    compose["services"]["worker"]["ports"] = 6066
    compose["services"]["worker"]["restart_policy"] = "always"
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(yaml.safe_dump(compose))
    problems = check_compose(broken)
    assert any(p.startswith("docker-compose.yml: services.worker.ports:") for p in problems)
    assert any("restart_policy" in p for p in problems), problems
    assert main(["--compose", str(broken)]) == 1
