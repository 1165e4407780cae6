{{/* Chart name, truncated to the 63-character DNS label limit. */}}
{{- define "libromind.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name: release-chart unless the release already contains the chart name. */}}
{{- define "libromind.fullname" -}}
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

{{- define "libromind.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Common labels. */}}
{{- define "libromind.labels" -}}
helm.sh/chart: {{ include "libromind.chart" . }}
{{ include "libromind.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: libromind
{{- end }}

{{/* Selector labels shared by every pod of the release. */}}
{{- define "libromind.selectorLabels" -}}
app.kubernetes.io/name: {{ include "libromind.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels for one component: call with (dict "ctx" $ "component" "api"). */}}
{{- define "libromind.componentLabels" -}}
{{ include "libromind.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "libromind.componentSelectorLabels" -}}
{{ include "libromind.selectorLabels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "libromind.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "libromind.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "libromind.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag | toString) }}
{{- end }}

{{/* Name of the Secret holding LIBROMIND_* secrets. Never created by this chart. */}}
{{- define "libromind.secretName" -}}
{{- required "existingSecret is required: create a Secret with LIBROMIND_DATABASE_URL etc. and set its name (secrets are never put in values)" .Values.existingSecret }}
{{- end }}

{{/* Pod-level settings shared by every workload: call with (dict "ctx" $ "spec" .Values.api). */}}
{{- define "libromind.podSpecCommon" -}}
serviceAccountName: {{ include "libromind.serviceAccountName" .ctx }}
automountServiceAccountToken: false
enableServiceLinks: false
{{- with .ctx.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .ctx.Values.podSecurityContext | nindent 2 }}
{{- with .spec.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .spec.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .spec.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if .spec.topologySpread }}
topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: topology.kubernetes.io/zone
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "libromind.componentSelectorLabels" (dict "ctx" .ctx "component" .component) | nindent 8 }}
  - maxSkew: 1
    topologyKey: kubernetes.io/hostname
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "libromind.componentSelectorLabels" (dict "ctx" .ctx "component" .component) | nindent 8 }}
{{- end }}
volumes:
  # readOnlyRootFilesystem: the only writable paths are these emptyDirs.
  - name: tmp
    emptyDir:
      sizeLimit: {{ .ctx.Values.volumes.tmpSizeLimit }}
  - name: data
    emptyDir:
      sizeLimit: {{ .ctx.Values.volumes.dataSizeLimit }}
{{- end }}

{{/* Container-level settings shared by every workload. */}}
{{- define "libromind.containerCommon" -}}
image: {{ include "libromind.image" .ctx | quote }}
imagePullPolicy: {{ .ctx.Values.image.pullPolicy }}
securityContext:
  {{- toYaml .ctx.Values.containerSecurityContext | nindent 2 }}
envFrom:
  - configMapRef:
      name: {{ include "libromind.fullname" .ctx }}
  - secretRef:
      name: {{ include "libromind.secretName" .ctx }}
env:
  - name: HOME
    value: /tmp
  - name: XDG_CACHE_HOME
    value: /tmp/.cache
  - name: POD_NAME
    valueFrom:
      fieldRef:
        fieldPath: metadata.name
volumeMounts:
  - name: tmp
    mountPath: /tmp
  - name: data
    mountPath: {{ .ctx.Values.config.LIBROMIND_HOME | default "/data" }}
resources:
  {{- toYaml .spec.resources | nindent 2 }}
{{- end }}

{{/* Checksum annotation so pods roll when the ConfigMap changes. */}}
{{- define "libromind.podAnnotations" -}}
checksum/config: {{ include (print .ctx.Template.BasePath "/configmap.yaml") .ctx | sha256sum }}
{{- with .spec.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end }}
