{{/*
The standard helpers: name, fullname, chart, labels, selectorLabels,
serviceAccountName; then the few this chart adds.
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "pyarmonik.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The fully qualified name of the chart's own objects, at most 63 characters
(a DNS label); the release name alone when it already contains the chart name.
*/}}
{{- define "pyarmonik.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Chart name and version, for the helm.sh/chart label. */}}
{{- define "pyarmonik.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of the operator's objects (Deployment, ServiceAccount, RBAC, ...). */}}
{{- define "pyarmonik.labels" -}}
{{ include "pyarmonik.commonLabels" . }}
app.kubernetes.io/component: operator
{{- end }}

{{/*
Labels of every object the chart renders. The custom resources carry these
alone: the operator labels a grid's own objects itself (instance = cluster name).
*/}}
{{- define "pyarmonik.commonLabels" -}}
helm.sh/chart: {{ include "pyarmonik.chart" . }}
app.kubernetes.io/name: {{ include "pyarmonik.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: pyarmonik
{{- end }}

{{/*
Selector labels of the operator. The component label keeps them disjoint from
the labels the operator gives a grid's pods (same name, instance = cluster
name, which may be the release name).
*/}}
{{- define "pyarmonik.selectorLabels" -}}
app.kubernetes.io/name: {{ include "pyarmonik.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{/* The operator's ServiceAccount. */}}
{{- define "pyarmonik.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "pyarmonik.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The image of the operator and, by default, of the cluster. */}}
{{- define "pyarmonik.image" -}}
{{- printf "%s:%s" .Values.image.repository (include "pyarmonik.imageTag" .) }}
{{- end }}

{{- define "pyarmonik.imageTag" -}}
{{- .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/* Where the custom resources go: the watched namespace, else the release's. */}}
{{- define "pyarmonik.resourceNamespace" -}}
{{- .Values.operator.watchNamespace | default .Release.Namespace }}
{{- end }}

{{/* The ArmoniKCluster's name. */}}
{{- define "pyarmonik.clusterName" -}}
{{- .Values.cluster.name | default .Release.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
"true" when the chart turns the cluster's authentication on with its own auth
config (cluster.auth), else empty: cluster.auth.enabled true, or "auto" with
mTLS on (cluster.spec.tls.clientAuth), the one way the API identifies callers
by itself. Never when cluster.spec.auth names the user's own config.
*/}}
{{- define "pyarmonik.authEnabled" -}}
{{- $tls := .Values.cluster.spec.tls | default dict -}}
{{- if .Values.cluster.spec.auth -}}
{{- else if kindIs "bool" .Values.cluster.auth.enabled -}}
{{- if .Values.cluster.auth.enabled }}true{{ end -}}
{{- else if $tls.clientAuth -}}
true
{{- end -}}
{{- end }}

{{/*
The ConfigMap of the chart's auth config, named after its content: the
control plane reads the file at start, so a new config is a new ConfigMap,
hence a new pod template, which rolls the control plane.
*/}}
{{- define "pyarmonik.authConfigMapName" -}}
{{- printf "%s-auth-%s" (include "pyarmonik.clusterName" .) (toYaml .Values.cluster.auth.config | sha256sum | trunc 8) }}
{{- end }}

{{/*
The chart's defaults of the cluster's spec (the spec given wins, field by
field): the chart's image and pull secrets; the NetworkPolicies' operator
peer, this release's operator pods in their namespace; the chart's auth config.
*/}}
{{- define "pyarmonik.clusterDefaults" -}}
{{- $defaults := dict "image" (dict "repository" .Values.image.repository "tag" (include "pyarmonik.imageTag" .) "pullPolicy" .Values.image.pullPolicy) }}
{{- with .Values.imagePullSecrets }}
{{- $_ := set $defaults "imagePullSecrets" . }}
{{- end }}
{{- if .Values.operator.enabled }}
{{- $namespace := dict "matchLabels" (dict "kubernetes.io/metadata.name" .Release.Namespace) }}
{{- $pods := dict "matchLabels" (include "pyarmonik.selectorLabels" . | fromYaml) }}
{{- $_ := set $defaults "networkPolicy" (dict "operatorFrom" (list (dict "namespaceSelector" $namespace "podSelector" $pods))) }}
{{- end }}
{{- if include "pyarmonik.authEnabled" . }}
{{- $tls := .Values.cluster.spec.tls | default dict }}
{{- if not (or $tls.clientAuth .Values.cluster.auth.trustedProxyHeaders) }}
{{- fail "cluster.auth.enabled: nothing identifies the callers; set cluster.spec.tls.clientAuth: true (mTLS) or cluster.auth.trustedProxyHeaders: true (an ingress that checks client certificates)" }}
{{- end }}
{{- $auth := dict "configMapName" (include "pyarmonik.authConfigMapName" .) "key" "auth.yaml" }}
{{- if .Values.cluster.auth.trustedProxyHeaders }}
{{- $_ := set $auth "trustedProxyHeaders" true }}
{{- end }}
{{- $_ := set $defaults "auth" $auth }}
{{- end }}
{{- toYaml $defaults }}
{{- end }}

{{/*
What the operator may do, as RBAC rules: the custom resources, what it
builds for them, and what kopf itself needs (events; no peering objects, as
it runs standalone). Cluster-scoped CRD reading is in its own rule set
(pyarmonik.crdRules) so that a namespaced install keeps only that cluster-wide.
*/}}
{{- define "pyarmonik.rules" -}}
- apiGroups: ["pyarmonik.io"]
  resources: ["armonikclusters", "armonikpartitions"]
  verbs: ["get", "list", "watch", "patch", "update"]
- apiGroups: ["pyarmonik.io"]
  resources: ["armonikclusters/status", "armonikpartitions/status", "armonikpartitions/scale"]
  verbs: ["get", "patch", "update"]
- apiGroups: ["apps"]
  resources: ["deployments", "statefulsets"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
- apiGroups: [""]
  resources: ["services", "configmaps", "secrets", "serviceaccounts"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
# Made by the StatefulSets' volume claim templates: only read.
- apiGroups: [""]
  resources: ["persistentvolumeclaims"]
  verbs: ["get", "list"]
# Read, and patched by the autoscaler (pod-deletion-cost of busy agents); also, each grid's Role grants
# get/patch pods, which RBAC lets the operator grant only while it holds them.
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
- apiGroups: ["policy"]
  resources: ["poddisruptionbudgets"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
- apiGroups: ["rbac.authorization.k8s.io"]
  resources: ["roles", "rolebindings"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
# Each grid's and partition's NetworkPolicies (ArmoniKCluster spec.networkPolicy), the GUI's Ingress (spec.gui).
- apiGroups: ["networking.k8s.io"]
  resources: ["networkpolicies", "ingresses"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
# Partitions with autoscaling.engine: keda (only where KEDA is installed).
- apiGroups: ["keda.sh"]
  resources: ["scaledobjects"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
{{- end }}

{{- define "pyarmonik.crdRules" -}}
- apiGroups: ["apiextensions.k8s.io"]
  resources: ["customresourcedefinitions"]
  verbs: ["get", "list", "watch"]
{{- end }}

{{/* The arguments of `pyarmonik operator` (kopf run's flags). */}}
{{- define "pyarmonik.operatorArgs" -}}
- operator
{{- range .Values.operator.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end }}
