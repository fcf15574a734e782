"""The spec and status schemas of ArmoniKCluster and ArmoniKPartition.

Kept apart from the CRD wrapping (:mod:`pyarmonik.operator.crds`) because
the builders default their input with these very schemas
(:func:`pyarmonik.operator.schema.with_defaults`): a default, an enum or a
bound is written once, here, and both the API server and the operator go by
it.
"""

from __future__ import annotations

from pyarmonik import settings
from pyarmonik.operator import fair_share
from pyarmonik.operator import schema as s

PHASES = ["Pending", "Progressing", "Ready", "Degraded", "Failed"]
CLUSTER_CONDITIONS = ["RedisReady", "ObjectStorageReady", "ControlPlaneReady", "Ready"]
PARTITION_CONDITIONS = ["ClusterFound", "PodsReady", "Declared", "AutoscalerReady", "Ready"]
#: The settings models' rule, so the API server refuses what an agent would.
PARTITION_ID_PATTERN = settings.PARTITION_ID_PATTERN
PULL_POLICIES = ["Always", "IfNotPresent", "Never"]
_BUCKET = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"
AUTOSCALING_ENGINES = ["operator", "keda"]
#: The Service of a Prometheus that the Prometheus Operator runs in ``monitoring``.
DEFAULT_PROMETHEUS_ADDRESS = "http://prometheus-operated.monitoring.svc:9090"


def _secret_key(name_key: str, default: str) -> dict[str, s.Schema]:
    return {name_key: s.string(f"key of the value in the Secret (default {default})", default=default)}


def _storage_class() -> s.Schema:
    return s.string("storage class of the data volume (none: the cluster's default)", nullable=True)


def _redis_spec() -> s.Schema:
    managed = s.obj(
        {
            "image": s.string("Redis image", default="redis:7.2"),
            "storage": s.string("size of the data volume (append-only file)", default="1Gi"),
            "storageClassName": _storage_class(),
            "resources": s.resources(),
            "appendfsync": s.enum(["always", "everysec"], "everysec", "when Redis syncs its append-only file"),
        },
        "the Redis StatefulSet the operator runs",
        default={},
    )
    external = s.obj(
        {
            "url": s.string(
                "Redis URL, e.g. redis://host:6379/0 (rediss:// for TLS); no password in it: see passwordSecretRef",
                maxLength=2048,
            ),
            "passwordSecretRef": s.obj(
                {"name": s.string("Secret name"), **_secret_key("key", "password")},
                "Secret holding the password; the kubelet puts it into the URL, so it must be URL-safe",
                required=["name"],
            ),
        },
        "a Redis the operator does not run",
    )
    rule = (
        # has() guards: the API server also checks the rule against the default ({}).
        "!has(self.mode) || self.mode != 'external' || (has(self.external) && has(self.external.url))",
        "redis.external.url is required when redis.mode is external",
    )
    # A password in the URL would be a literal in every pod's environment.
    no_password = (
        "!has(self.external) || !has(self.external.url) || !self.external.url.matches('^[^:/]+://[^/@]*:[^/@]*@')",
        "redis.external.url must not hold a password: put it in a Secret named by redis.external.passwordSecretRef",
    )
    return s.obj(
        {"mode": s.enum(["managed", "external"], "managed"), "managed": managed, "external": external},
        "state, queues and events",
        default={},
        rules=[rule, no_password],
    )


def _object_storage_spec() -> s.Schema:
    managed = s.obj(
        {
            "image": s.string("MinIO image", default="minio/minio:RELEASE.2024-12-18T13-15-44Z"),
            "storage": s.string("size of the data volume", default="10Gi"),
            "storageClassName": _storage_class(),
            "resources": s.resources(),
        },
        "the MinIO StatefulSet the operator runs, with generated credentials",
        default={},
    )
    credentials = s.obj(
        {
            "name": s.string("Secret name"),
            **_secret_key("accessKeyKey", "accessKey"),
            **_secret_key("secretKeyKey", "secretKey"),
        },
        "Secret holding the access and secret keys (none: anonymous)",
        required=["name"],
    )
    external = s.obj(
        {
            "endpoint": s.string("S3 endpoint host:port"),
            "bucket": s.string("bucket (default: objectStorage.bucket)", pattern=_BUCKET),
            "secure": s.boolean("use TLS", default=False),
            "region": s.string("region, if the server needs one", nullable=True),
            "credentialsSecretRef": credentials,
        },
        "an S3 service the operator does not run",
        default={},
    )
    rule = (
        "!has(self.mode) || self.mode != 'external' || (has(self.external) && has(self.external.endpoint))",
        "objectStorage.external.endpoint is required when objectStorage.mode is external",
    )
    return s.obj(
        {
            "mode": s.enum(["managed", "external"], "managed"),
            "managed": managed,
            "external": external,
            "bucket": s.string("bucket of result data, created when missing", default="pyarmonik", pattern=_BUCKET),
            "smallObjectBytes": s.integer("objects up to this size live in Redis (0: never)", default=4096, minimum=0),
        },
        "result data",
        default={},
        rules=[rule],
    )


#: The namespace whose pods may scrape the grid by default: the Prometheus
#: Operator's usual one, as in DEFAULT_PROMETHEUS_ADDRESS.
DEFAULT_MONITORING_NAMESPACE = "monitoring"
#: The operator's pods as the chart labels them (its selectorLabels, less the
#: release name, which the chart adds itself when it renders a cluster).
OPERATOR_POD_LABELS = {"app.kubernetes.io/name": "pyarmonik", "app.kubernetes.io/component": "operator"}
#: Where the NetworkPolicies let the operator in from by default: its pods in any namespace.
DEFAULT_OPERATOR_PEERS = [{"namespaceSelector": {}, "podSelector": {"matchLabels": OPERATOR_POD_LABELS}}]
#: Key of the auth config file in its ConfigMap or Secret (the chart's).
DEFAULT_AUTH_KEY = "auth.yaml"


def _network_policy_spec() -> s.Schema:
    return s.obj(
        {
            "enabled": s.boolean(
                "build a NetworkPolicy for each of the grid's components (enforced only where the network plugin "
                "enforces NetworkPolicies)",
                default=True,
            ),
            "ingressFrom": s.array(
                s.network_policy_peer(),
                "who may reach the ArmoniK API besides the grid's agents, e.g. clients' namespaces or an ingress "
                "controller; none: every pod of the cluster's namespace; []: the agents only. Required with "
                "auth.trustedProxyHeaders, which then admits these peers only (not even the agents). A "
                "LoadBalancer or NodePort Service needs an ipBlock of its clients here",
            ),
            "monitoringNamespaceSelector": s.label_selector(
                "namespaces whose pods may scrape the metrics ports (control plane and agents)",
                default={"matchLabels": {"kubernetes.io/metadata.name": DEFAULT_MONITORING_NAMESPACE}},
            ),
            "operatorFrom": s.array(
                s.network_policy_peer(),
                "the operator's pods, which read the grid's Redis and the agents' probe port (default: pods "
                "labelled as the chart's operator, in any namespace; the chart names its own release and namespace)",
                default=DEFAULT_OPERATOR_PEERS,
            ),
        },
        "who may reach the grid's pods: the ArmoniK API the agents and ingressFrom, Redis the grid's pods and "
        "the operator, MinIO the grid's pods, the metrics ports monitoring; kubelet probes and kubectl "
        "port-forward are never blocked",
        default={},
    )


def _tls_spec() -> s.Schema:
    return s.obj(
        {
            "secretName": s.string(
                "a kubernetes.io/tls Secret: tls.crt and tls.key, and ca.crt (the client CA) for clientAuth, as "
                "cert-manager writes them; a renewed Secret is served without restart"
            ),
            "clientAuth": s.boolean("require a client certificate signed by the Secret's ca.crt (mTLS)", default=False),
        },
        "TLS of the ArmoniK API (none: plaintext); the probes then only open a TCP connection",
        required=["secretName"],
    )


def _auth_spec() -> s.Schema:
    return s.obj(
        {
            "configMapName": s.string("ConfigMap holding the auth config file"),
            "secretName": s.string("Secret holding the auth config file (instead of a ConfigMap)"),
            "key": s.string(
                "key of the file in it (.json: JSON, else YAML)", default=DEFAULT_AUTH_KEY, pattern=r"^[-._a-zA-Z0-9]+$"
            ),
            "trustedProxyHeaders": s.boolean(
                "identify callers by the X-Certificate-Client-CN/-Fingerprint headers of an ingress that checks "
                "client certificates, instead of tls.clientAuth; needs networkPolicy.ingressFrom naming that "
                "ingress",
                default=False,
            ),
        },
        "authentication and authorization of every call from a file of users, roles and permissions "
        "(docs/security.md), read when the control plane starts (none: off, every caller allowed everything)",
    )


def _security_rules() -> list[s.Rule]:
    return [
        (
            "!has(self.auth) || has(self.auth.configMapName) != has(self.auth.secretName)",
            "auth needs one of auth.configMapName and auth.secretName",
        ),
        (
            "!has(self.auth) || (has(self.auth.trustedProxyHeaders) && self.auth.trustedProxyHeaders)"
            " || (has(self.tls) && has(self.tls.clientAuth) && self.tls.clientAuth)",
            "auth needs a way to identify callers: tls.clientAuth (mTLS) or auth.trustedProxyHeaders",
        ),
        (
            "!(has(self.auth) && has(self.auth.trustedProxyHeaders) && self.auth.trustedProxyHeaders)"
            " || (has(self.networkPolicy) && (has(self.networkPolicy.ingressFrom)"
            " || (has(self.networkPolicy.enabled) && !self.networkPolicy.enabled)))",
            "auth.trustedProxyHeaders trusts whoever reaches the API: name the ingress in networkPolicy.ingressFrom",
        ),
    ]


#: The control plane's metrics port in clusters (Prometheus' own default).
DEFAULT_METRICS_PORT = 9090


def _control_plane_spec() -> s.Schema:
    service = s.obj(
        {
            "type": s.enum(["ClusterIP", "NodePort", "LoadBalancer"], "ClusterIP"),
            "port": s.integer(default=settings.DEFAULT_PORT, minimum=1, maximum=65535),
            "annotations": s.string_map("annotations of the Service (load balancer settings)", default={}),
        },
        "the Service clients reach the ArmoniK API on",
        default={},
    )
    return s.obj(
        {
            "replicas": s.integer(default=1, minimum=1, maximum=100),
            "port": s.integer("ArmoniK API port", default=settings.DEFAULT_PORT, minimum=1, maximum=65535),
            "metricsPort": s.integer(
                "Prometheus /metrics port (the Service's port named metrics, which the chart's ServiceMonitor "
                "scrapes; the partitions' agents serve theirs on their probe port)",
                default=DEFAULT_METRICS_PORT,
                minimum=1,
                maximum=65535,
            ),
            "service": service,
            "resources": s.resources(),
            "env": s.env_vars("extra environment of the control plane; wins over the operator's"),
            "defaultPartition": s.string(
                "partition of tasks submitted without one", default="default", pattern=PARTITION_ID_PATTERN
            ),
        },
        "the ArmoniK API servers",
        default={},
    )


#: The agents' own rule (``settings.lease_renewal_problem``), so the API
#: server refuses a heartbeat that would lose every task longer than the lease.
_LEASE_RENEWAL_RULE = (
    "!has(self.heartbeatSeconds) || (double(self.heartbeatSeconds) > 0.0"
    " && double(self.heartbeatSeconds) * 2.0 <= double(self.leaseSeconds))",
    "lease.heartbeatSeconds must be above 0 and at most half of lease.leaseSeconds: an agent renewing its lease "
    "less often lets it expire under a running task, which is then retried",
)

#: ArmoniK's Admin GUI image (nginx serving the GUI at /admin/ on port 1080).
GUI_IMAGE, GUI_TAG = "dockerhubaneo/armonik_admin_app", "0.15.0"


def _gui_spec() -> s.Schema:
    ingress = s.obj(
        {
            "enabled": s.boolean("build the Ingress (off: route to the two Services yourself)", default=True),
            "className": s.string("ingressClassName (none: the cluster's default class)", nullable=True),
            "host": s.string("host the Ingress answers (none: any)", nullable=True),
            "tlsSecretName": s.string("Secret of the certificate the Ingress serves (none: plaintext)", nullable=True),
            "annotations": s.string_map("annotations of the Ingress (its controller's settings)", default={}),
        },
        "one entry point: the ArmoniK services' paths (gRPC-Web) and /static to the control plane, the rest to "
        "the GUI (at /admin/)",
        default={},
    )
    return s.obj(
        {
            "enabled": s.boolean("deploy ArmoniK's Admin GUI beside the control plane", default=False),
            "image": s.obj(
                {
                    "repository": s.string(default=GUI_IMAGE),
                    "tag": s.string(default=GUI_TAG),
                    "pullPolicy": s.enum(PULL_POLICIES, "IfNotPresent"),
                },
                "ArmoniK's Admin GUI image",
                default={},
            ),
            "replicas": s.integer(default=1, minimum=1, maximum=10),
            "resources": s.resources(),
            "httpPort": s.integer(
                "the control plane's HTTP port, which serves gRPC-Web to the GUI",
                default=settings.DEFAULT_HTTP_PORT,
                minimum=1,
                maximum=65535,
            ),
            "ingress": ingress,
        },
        "ArmoniK's Admin GUI (docs/gui.md); off, the control plane serves no HTTP port",
        default={},
    )


def cluster_spec_schema() -> s.Schema:
    return s.obj(
        {
            "image": s.obj(
                {
                    "repository": s.string(
                        "none: the operator's --image-repository (the chart's image.repository; default pyarmonik)"
                    ),
                    "tag": s.string("none: the operator's --image-tag (the chart's image.tag or appVersion)"),
                    "pullPolicy": s.enum(PULL_POLICIES, "IfNotPresent"),
                },
                "the PyArmoniK image (control plane and agents); none: the image the operator was installed with",
                default={},
            ),
            "imagePullSecrets": s.array(s.obj({"name": s.string()}, required=["name"]), "for every pod of the grid"),
            "logging": s.obj(
                {
                    "level": s.enum(["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], "INFO"),
                    "format": s.enum(["text", "json"], "json"),
                },
                default={},
            ),
            "controlPlane": _control_plane_spec(),
            "redis": _redis_spec(),
            "objectStorage": _object_storage_spec(),
            "persistence": s.obj(
                {
                    "deleteWithCluster": s.boolean(
                        "delete the managed Redis' and MinIO's data volumes (PersistentVolumeClaims) with the "
                        "cluster; false keeps them (and the grid's state and data) for a cluster of the same name "
                        "to find again, until you delete them (kubectl delete pvc -l app.kubernetes.io/instance="
                        "<cluster>)",
                        default=False,
                    ),
                },
                "what becomes of the managed Redis' and MinIO's data volumes when the cluster is deleted",
                default={},
            ),
            "lease": s.obj(
                {
                    "leaseSeconds": s.integer("a silent agent loses its task after this", default=15, minimum=1),
                    "heartbeatSeconds": s.number(
                        "how often an agent renews its task's lease and checks for a cancel, at most half of "
                        "leaseSeconds (none: a fifth of it)",
                        minimum=0,
                    ),
                    "graceSeconds": s.integer(
                        "on pod stop, time the running task may still run (termination grace: this + 15 s)",
                        default=15,
                        minimum=0,
                    ),
                },
                default={},
                rules=[_LEASE_RENEWAL_RULE],
            ),
            "networkPolicy": _network_policy_spec(),
            "gui": _gui_spec(),
            "tls": _tls_spec(),
            "auth": _auth_spec(),
        },
        default={},
        rules=_security_rules(),
    )


def cluster_status_schema() -> s.Schema:
    return s.obj(
        {
            "phase": s.enum(PHASES),
            "conditions": s.conditions(CLUSTER_CONDITIONS),
            "endpoint": s.string("address of the ArmoniK API inside the cluster"),
            "observedGeneration": s.integer(format="int64"),
        }
    )


def _autoscaling_spec() -> s.Schema:
    keda = s.obj(
        {
            "prometheusAddress": s.string("the Prometheus KEDA queries", default=DEFAULT_PROMETHEUS_ADDRESS),
            "query": s.string(
                "PromQL of the partition's tasks, queued and running "
                "(default: its pyarmonik_queue_tasks, as the chart's ServiceMonitor labels them)"
            ),
            "authenticationRef": s.obj(
                {
                    "name": s.string(),
                    "kind": s.enum(["TriggerAuthentication", "ClusterTriggerAuthentication"], "TriggerAuthentication"),
                },
                "KEDA authentication of the Prometheus trigger",
                required=["name"],
            ),
        },
        "engine keda: the Prometheus trigger of the ScaledObject",
        default={},
    )
    return s.obj(
        {
            "enabled": s.boolean("scale replicas between podReserved and podMax on the queue", default=False),
            "engine": s.enum(
                AUTOSCALING_ENGINES,
                "operator",
                "operator: the operator scales the partition; keda: a KEDA ScaledObject does, on Prometheus",
            ),
            "targetTasksPerPod": s.integer("tasks (queued or running) per pod", default=2, minimum=1),
            "scaleUpStep": s.integer("most pods added at once", default=10, minimum=1),
            "scaleUpCooldownSeconds": s.integer("least time between two scale-ups", default=0, minimum=0),
            "scaleDownCooldownSeconds": s.integer(
                "pods are removed only once the load has needed fewer for this long (with podReserved 0: "
                "the partition goes to zero after this long without tasks)",
                default=300,
                minimum=0,
            ),
            "keda": keda,
        },
        "queue-driven autoscaling of replicas; idle pods are removed first",
        default={},
    )


def partition_spec_schema() -> s.Schema:
    worker = s.obj(
        {
            "image": s.string("the worker's image"),
            "command": s.array(
                s.string(),
                "the worker's command, with args after it, run under a /bin/sh supervisor that restarts the worker "
                "in place when a timed-out or cancelled task left it busy (none: the image's entrypoint, restarted "
                "by the kubelet through its liveness probe when it stays stuck)",
            ),
            "args": s.array(s.string()),
            "env": s.env_vars("extra environment of the worker"),
            "resources": s.resources("worker resources; requesting nvidia.com/gpu puts the pods on GPU nodes"),
            "imagePullPolicy": s.enum(PULL_POLICIES),
        },
        "the user's worker container",
        required=["image"],
    )
    autoscaling = _autoscaling_spec()
    return s.obj(
        {
            "clusterRef": s.obj({"name": s.string()}, "the ArmoniKCluster, in this namespace", required=["name"]),
            "partitionId": s.string("default: the resource's name", pattern=PARTITION_ID_PATTERN),
            "worker": worker,
            "agent": s.obj(
                {"resources": s.resources(), "env": s.env_vars("extra environment of the agent")}, default={}
            ),
            "nodeSelector": s.string_map(),
            "tolerations": s.tolerations(),
            "affinity": s.opaque("pod affinity, as in a pod spec"),
            "priorityClassName": s.string(),
            "runtimeClassName": s.string(),
            "podReserved": s.integer("minimum replicas", default=1, minimum=0),
            "podMax": s.integer("maximum replicas", default=10, minimum=0),
            "replicas": s.integer(
                "desired replicas (/scale, which the autoscaler writes), kept within podReserved..podMax "
                "(none: podReserved)",
                minimum=0,
            ),
            "priority": s.integer(default=1, minimum=1, maximum=99),
            "preemptionPercentage": s.integer(default=50, minimum=0, maximum=100),
            "parentPartitionIds": s.array(s.string(pattern=PARTITION_ID_PATTERN), default=[]),
            "autoscaling": autoscaling,
            fair_share.FIELD: fair_share.spec_schema(),
        },
        required=["clusterRef", "worker"],
        rules=[("self.podMax >= self.podReserved", "podMax must be >= podReserved")],
    )


def partition_status_schema() -> s.Schema:
    return s.obj(
        {
            "replicas": s.integer(),
            "readyReplicas": s.integer(),
            "selector": s.string("label selector of the pods, for the scale subresource"),
            "conditions": s.conditions(PARTITION_CONDITIONS),
            "observedGeneration": s.integer(format="int64"),
            "phase": s.enum(PHASES),
        }
    )
