{{/*
Expand the name of the chart.
*/}}
{{- define "service-template.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Create a default fully qualified app name.
Truncated at 63 characters because some Kubernetes name fields are limited to this
(DNS-1123 label). If the release name contains the chart name it is used as is.
*/}}
{{- define "service-template.fullname" -}}
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

{{/*
Chart name and version as used by the helm.sh/chart label.
*/}}
{{- define "service-template.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels shared by every object of the release, without the identifying name/component.
*/}}
{{- define "service-template.baseLabels" -}}
helm.sh/chart: {{ include "service-template.chart" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: {{ include "service-template.name" . }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Common labels of the app's objects.
*/}}
{{- define "service-template.labels" -}}
{{ include "service-template.baseLabels" . }}
{{ include "service-template.selectorLabels" . }}
{{- end }}

{{/*
Selector labels. Immutable on a Deployment once created: never add labels that change
between releases (version, chart) here.
*/}}
{{- define "service-template.selectorLabels" -}}
app.kubernetes.io/name: {{ include "service-template.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: server
{{- end }}

{{/*
Name of the service account to use.
*/}}
{{- define "service-template.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "service-template.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Application image reference: digest wins over tag, tag defaults to appVersion.
*/}}
{{- define "service-template.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
Name of the Secret holding DATABASE_URL and REDIS_URL.
*/}}
{{- define "service-template.secretName" -}}
{{- default (include "service-template.fullname" .) .Values.secret.existingSecret }}
{{- end }}

{{/*
Label that lets a pod through the NetworkPolicy when allowExternal is false.
*/}}
{{- define "service-template.clientLabel" -}}
{{ include "service-template.fullname" . }}-client
{{- end }}

{{/*
Development dependency names and connection URLs.
*/}}
{{- define "service-template.postgresName" -}}
{{- printf "%s-postgres" (include "service-template.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "service-template.redisName" -}}
{{- printf "%s-redis" (include "service-template.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "service-template.databaseUrl" -}}
{{- if .Values.secret.databaseUrl }}
{{- .Values.secret.databaseUrl }}
{{- else if .Values.devDependencies.enabled }}
{{- $pg := .Values.devDependencies.postgres }}
{{- printf "postgres://%s:%s@%s:5432/%s" (urlquery $pg.user) (urlquery $pg.password) (include "service-template.postgresName" .) $pg.database }}
{{- end }}
{{- end }}

{{- define "service-template.redisUrl" -}}
{{- if .Values.secret.redisUrl }}
{{- .Values.secret.redisUrl }}
{{- else if .Values.devDependencies.enabled }}
{{- printf "redis://%s:6379" (include "service-template.redisName" .) }}
{{- end }}
{{- end }}

{{/*
Termination timings, all derived from .Values.termination and
.Values.terminationGracePeriodSeconds (see values.yaml, "Termination").
Returned as YAML so templates and the env share one computation:
  preStopSeconds     sleep in the preStop hook (0 = no hook)
  drainDelayMs       DRAIN_DELAY_MS for the app
  shutdownTimeoutMs  SHUTDOWN_TIMEOUT_MS for the app (bounds the whole shutdown from SIGTERM)
The render fails when the sequence cannot finish before SIGKILL.
*/}}
{{- define "service-template.termination" -}}
{{- $t := .Values.termination }}
{{- $drain := int $t.drainSeconds }}
{{- $close := int $t.closeTimeoutSeconds }}
{{- $margin := int $t.safetyMarginSeconds }}
{{- $grace := int .Values.terminationGracePeriodSeconds }}
{{- if lt $close 1 }}
{{- fail "termination.closeTimeoutSeconds must be at least 1: the app needs time to close the server and its pools" }}
{{- end }}
{{- $needed := add $drain $close $margin }}
{{- if gt $needed $grace }}
{{- fail (printf "termination overruns the grace period: drainSeconds (%d) + closeTimeoutSeconds (%d) + safetyMarginSeconds (%d) = %ds > terminationGracePeriodSeconds (%d). The kubelet would SIGKILL the pod mid-shutdown; raise terminationGracePeriodSeconds to at least %d or lower the others." $drain $close $margin $needed $grace $needed) }}
{{- end }}
{{- if eq $t.drainMode "preStop" }}
preStopSeconds: {{ $drain }}
drainDelayMs: 0
shutdownTimeoutMs: {{ mul $close 1000 }}
{{- else }}
preStopSeconds: 0
drainDelayMs: {{ mul $drain 1000 }}
shutdownTimeoutMs: {{ mul (add $drain $close) 1000 }}
{{- end }}
{{- end }}

{{/*
Whether the preStop hook uses the native `sleep` lifecycle action (on by default since Kubernetes 1.30)
instead of exec'ing /bin/sleep.
*/}}
{{- define "service-template.nativeSleep" -}}
{{- $mode := .Values.termination.preStopSleepAction }}
{{- if eq $mode "native" }}true
{{- else if eq $mode "exec" }}false
{{- else if semverCompare ">=1.30-0" .Capabilities.KubeVersion.Version }}true
{{- else }}false
{{- end }}
{{- end }}

{{/*
Fail fast on values that would make the probes lie.
*/}}
{{- define "service-template.validateProbes" -}}
{{- if .Values.readinessProbe.enabled }}
{{- $probeMs := mul (int .Values.readinessProbe.timeoutSeconds) 1000 }}
{{- $checkMs := int .Values.config.readyCheckTimeoutMs }}
{{- if le $probeMs $checkMs }}
{{- fail (printf "readinessProbe.timeoutSeconds (%ds = %dms) must be greater than config.readyCheckTimeoutMs (READY_CHECK_TIMEOUT_MS=%d): otherwise the kubelet times out before the app can report a slow dependency itself, and every slow check looks like a dead pod." (int .Values.readinessProbe.timeoutSeconds) $probeMs $checkMs) }}
{{- end }}
{{- end }}
{{- if .Values.startupProbe.enabled }}
{{- $budget := mul (int .Values.startupProbe.failureThreshold) (int .Values.startupProbe.periodSeconds) }}
{{- $needed := add $budget (int .Values.minReadySeconds) }}
{{- if le (int .Values.progressDeadlineSeconds) $needed }}
{{- fail (printf "progressDeadlineSeconds (%d) must be greater than the startup probe budget (startupProbe.failureThreshold x periodSeconds = %ds) + minReadySeconds (%d): otherwise a rollout is reported as failed while a pod is still allowed to be starting." (int .Values.progressDeadlineSeconds) $budget (int .Values.minReadySeconds)) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
One HTTP probe on the container's named port, from a probe block of values.yaml
(startupProbe, readinessProbe, livenessProbe all share this shape).
*/}}
{{- define "service-template.httpProbe" -}}
httpGet:
  path: {{ .path }}
  port: http
initialDelaySeconds: {{ .initialDelaySeconds }}
periodSeconds: {{ .periodSeconds }}
timeoutSeconds: {{ .timeoutSeconds }}
failureThreshold: {{ .failureThreshold }}
successThreshold: {{ .successThreshold }}
{{- end }}
