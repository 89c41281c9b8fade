"""deploy/kubernetes/ is valid for Kubernetes and in step with the programs it runs.

Every manifest passes the Kubernetes schemas (kubernetes-validate ships them: no
network). Every ``COFFER_…`` variable a container sets is a real setting of the
program it runs, and its value passes that program's own settings check; probes
use the real health routes; ports match the binds; Services, the Ingress and the
NetworkPolicies name ports and Secrets that exist.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from coffer.fileserver.settings import ENV_PREFIX as FS_PREFIX
from coffer.fileserver.settings import FileserverSettings
from coffer.protocol import routes
from coffer.protocol.settings import load
from coffer.server.settings import ENV_PREFIX as SERVER_PREFIX
from coffer.server.settings import ServerSettings

kubernetes_validate = pytest.importorskip("kubernetes_validate")

REPO = Path(__file__).resolve().parents[1]
MANIFESTS = sorted((REPO / "deploy" / "kubernetes").glob("*.yaml"))
KUBERNETES = "1.37.0"
PROGRAMS: dict[str, tuple[Any, str]] = {
    "server": (ServerSettings, SERVER_PREFIX),
    "fileserver": (FileserverSettings, FS_PREFIX),
}
SAMPLE_POD = "coffer-fileserver-0"


def documents() -> list[dict[str, Any]]:
    return [doc for path in MANIFESTS for doc in yaml.safe_load_all(path.read_text()) if doc]


def workloads() -> list[dict[str, Any]]:
    return [d for d in documents() if d["kind"] in ("Deployment", "StatefulSet")]


def containers() -> list[dict[str, Any]]:
    return [c for w in workloads() for c in w["spec"]["template"]["spec"]["containers"]]


def secret_value(name: str, key: str) -> str:
    secret = next(d for d in documents() if d["kind"] == "Secret" and d["metadata"]["name"] == name)
    return str(secret["stringData"][key])


def environment(container: dict[str, Any]) -> dict[str, str]:
    """The container's environment as Kubernetes gives it: Secrets read, the pod's name put in ``$(POD_NAME)``."""
    env: dict[str, str] = {}
    for item in container.get("env", []):
        source = item.get("valueFrom", {})
        if "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            value = secret_value(ref["name"], ref["key"])
        elif "fieldRef" in source:
            assert source["fieldRef"]["fieldPath"] == "metadata.name"
            value = SAMPLE_POD
        else:
            value = str(item["value"])
        env[item["name"]] = re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], value)
    return env


def program(container: dict[str, Any]) -> str:
    role = container["args"][0]
    assert role in PROGRAMS, f"{container['name']} runs {role!r}, not one of the programs"
    return str(role)


def settings_of(container: dict[str, Any]) -> Any:
    cls, prefix = PROGRAMS[program(container)]
    return load(cls, {}, env_prefix=prefix, source="the manifest", environ=environment(container))


def test_the_manifests_cover_what_a_cluster_needs() -> None:
    kinds = {d["kind"] for d in documents()}
    needed = {"Deployment", "HorizontalPodAutoscaler", "StatefulSet", "Service", "Ingress", "Secret", "NetworkPolicy"}
    assert needed <= kinds
    statefulset = next(d for d in documents() if d["kind"] == "StatefulSet")
    assert statefulset["spec"]["volumeClaimTemplates"], "fileservers keep their chunks on persistent volumes"
    ingress = next(d for d in documents() if d["kind"] == "Ingress")
    assert ingress["spec"]["tls"], "the ingress terminates TLS"


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_every_manifest_passes_the_kubernetes_schemas_strictly(path: Path) -> None:
    for doc in yaml.safe_load_all(path.read_text()):
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)


def test_the_schema_check_refuses_a_manifest_with_a_misspelt_field() -> None:
    broken = next(d for d in documents() if d["kind"] == "Deployment")
    broken = {**broken, "spec": {**broken["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES, strict=True)


@pytest.mark.parametrize("container", containers(), ids=lambda c: c["name"])
def test_every_coffer_variable_is_a_real_setting_of_its_program_with_a_valid_value(container: dict[str, Any]) -> None:
    cls, prefix = PROGRAMS[program(container)]
    known = {prefix + f.name.upper() for f in dataclasses.fields(cls)}
    named = {k for k in environment(container) if k.startswith("COFFER_")}
    assert named and named <= known, f"not settings of the {program(container)}: {sorted(named - known)}"
    settings_of(container)  # raises SettingsError on a value the program would refuse at start


@pytest.mark.parametrize("container", containers(), ids=lambda c: c["name"])
def test_probes_use_the_health_routes_on_the_port_the_program_binds(container: dict[str, Any]) -> None:
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    settings = settings_of(container)
    assert ports["http"] == int(settings.bind.rpartition(":")[2])
    assert ports["metrics"] == int(settings.metrics_bind.rpartition(":")[2]), "metrics are served where scraped"
    assert container["readinessProbe"]["httpGet"] == {"path": routes.READY, "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": routes.HEALTH, "port": "http"}


def test_the_server_and_fileservers_find_each_other_at_the_ingress_names() -> None:
    by_program = {program(c): settings_of(c) for c in containers()}
    ingress = next(d for d in documents() if d["kind"] == "Ingress")
    hosts = {rule["host"] for rule in ingress["spec"]["rules"]}
    assert by_program["server"].public_url == f"https://{ingress['spec']['rules'][0]['host']}"
    assert by_program["fileserver"].public_url == f"https://{SAMPLE_POD}.coffer.example.org"
    assert f"{SAMPLE_POD}.coffer.example.org" in hosts
    assert set(ingress["spec"]["tls"][0]["hosts"]) == hosts


def test_services_ingress_and_policies_name_ports_the_pods_open() -> None:
    docs = documents()
    pod_ports = {
        w["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"]: {
            p["name"] for c in w["spec"]["template"]["spec"]["containers"] for p in c["ports"]
        }
        for w in workloads()
    }
    services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
    for service in services.values():
        app = service["spec"]["selector"]["app.kubernetes.io/name"]
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= pod_ports[app], service["metadata"]["name"]
    ingress = next(d for d in docs if d["kind"] == "Ingress")
    for rule in ingress["spec"]["rules"]:
        backend = rule["http"]["paths"][0]["backend"]["service"]
        assert backend["port"]["name"] in {p["name"] for p in services[backend["name"]]["spec"]["ports"]}
    for policy in (d for d in docs if d["kind"] == "NetworkPolicy" and d["spec"]["podSelector"]):
        app = policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
        for rule in policy["spec"]["ingress"]:
            assert {p["port"] for p in rule["ports"]} <= pod_ports[app]


def test_metrics_are_open_to_the_monitoring_namespace_only() -> None:
    for policy in (d for d in documents() if d["kind"] == "NetworkPolicy" and d["spec"]["podSelector"]):
        for rule in policy["spec"]["ingress"]:
            if any(p["port"] == "metrics" for p in rule["ports"]):
                sources = [s["namespaceSelector"]["matchLabels"] for s in rule["from"]]
                assert sources == [{"kubernetes.io/metadata.name": "monitoring"}]
                assert [p["port"] for p in rule["ports"]] == ["metrics"]
