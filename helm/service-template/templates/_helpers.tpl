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
Name of a companion object: "<fullname>-<suffix>", the fullname shortened first so the
suffix survives the 63-character limit. Truncating after appending would give a long
fullname's companions (the metrics Service, the dev Postgres Service) the app's own name.
Usage: include "service-template.suffixedName" (list . "metrics")
*/}}
{{- define "service-template.suffixedName" -}}
{{- $suffix := index . 1 }}
{{- $base := include "service-template.fullname" (index . 0) | trunc (int (sub 62 (len $suffix))) | trimSuffix "-" }}
{{- printf "%s-%s" $base $suffix }}
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
Label key that lets a pod through the NetworkPolicy when allowExternal is false (value "true").
The fullname is the key's prefix, not part of its name: a label key's name is limited to
63 characters, so the usual `<fullname>-client` is invalid for long release names, while
a prefix may be a DNS subdomain of up to 253 (the fullname is a DNS label of at most 63).
Still one key per release, so a pod can be a client of several releases at once.
*/}}
{{- define "service-template.clientLabel" -}}
{{ include "service-template.fullname" . }}/client
{{- end }}

{{/*
Labels of the metrics Service: the app's labels with component "metrics", so a
ServiceMonitor selects this Service and never the public one.
*/}}
{{- define "service-template.metricsLabels" -}}
{{ include "service-template.baseLabels" . }}
{{ include "service-template.metricsSelectorLabels" . }}
{{- end }}

{{- define "service-template.metricsSelectorLabels" -}}
app.kubernetes.io/name: {{ include "service-template.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: metrics
{{- end }}

{{- define "service-template.metricsName" -}}
{{- include "service-template.suffixedName" (list . "metrics") }}
{{- end }}

{{/*
METRICS_PORT for the app: the metrics listener's port, or 0 (no listener) when
metrics.enabled is false.
*/}}
{{- define "service-template.metricsPort" -}}
{{- if .Values.metrics.enabled }}{{ int .Values.metrics.port }}{{ else }}0{{ end }}
{{- end }}

{{/*
Bytes of a Kubernetes quantity as an integer: a string such as 256Mi, 1.5Gi, 500M,
268435456 (the forms values.schema.json admits) or a YAML number.
*/}}
{{- define "service-template.quantityBytes" -}}
{{- if kindIs "string" . }}
{{- $pattern := "^([0-9]+(?:\\.[0-9]+)?)(m|k|Ki|M|Mi|G|Gi|T|Ti|P|Pi|E|Ei)?$" }}
{{- if not (regexMatch $pattern .) }}
{{- fail (printf "%q is not a Kubernetes quantity such as 256Mi, 1Gi or 500M" .) }}
{{- end }}
{{- $number := regexReplaceAll $pattern . "${1}" }}
{{- $suffix := regexReplaceAll $pattern . "${2}" }}
{{- $factor := get (dict "" 1 "m" 0.001 "k" 1e3 "Ki" 1024 "M" 1e6 "Mi" 1048576 "G" 1e9 "Gi" 1073741824 "T" 1e12 "Ti" 1099511627776 "P" 1e15 "Pi" 1125899906842624 "E" 1e18 "Ei" 1152921504606846976) $suffix }}
{{- mulf $number $factor | ceil | int64 }}
{{- else }}
{{- ceil . | int64 }}
{{- end }}
{{- end }}

{{/*
MAX_RSS_BYTES for the app. "auto": config.maxRssLimitFraction of the container's memory
limit, so the app sheds load (503) and reports pressure while there is still room to
recover, instead of the OOM killer ending it with SIGKILL (no preStop, no drain); no
memory limit gives 0 (check off). An explicit byte count is used as is, and must be below
the limit, or it could never trigger before the OOM kill.
*/}}
{{- define "service-template.maxRssBytes" -}}
{{- $limit := dig "limits" "memory" "" .Values.resources }}
{{- $limitBytes := 0 }}
{{- if not (eq (toString $limit) "") }}
{{- $limitBytes = include "service-template.quantityBytes" $limit | int64 }}
{{- end }}
{{- $rss := .Values.config.maxRssBytes }}
{{- if eq (toString $rss) "auto" }}
{{- mulf $limitBytes .Values.config.maxRssLimitFraction | floor | int64 }}
{{- else }}
{{- if and (gt (int64 $rss) 0) (gt $limitBytes 0) (ge (int64 $rss) $limitBytes) }}
{{- fail (printf "config.maxRssBytes (%d) must be below resources.limits.memory (%v = %d bytes): the OOM killer would end the pod before it sheds load. Use \"auto\" to derive it from the limit." (int64 $rss) $limit $limitBytes) }}
{{- end }}
{{- int64 $rss }}
{{- end }}
{{- end }}

{{/*
Resolves an int-or-percent against a total, rounding up as the Deployment controller does
for maxSurge: (dict "value" .Values.updateStrategy.maxSurge "total" 4).
*/}}
{{- define "service-template.scaledIntOrPercent" -}}
{{- $value := toString .value }}
{{- if hasSuffix "%" $value }}
{{- div (add (mul (trimSuffix "%" $value | int) (int .total)) 99) 100 }}
{{- else }}
{{- int .value }}
{{- end }}
{{- end }}

{{/*
Fail when the pods can open more Postgres connections than the server allows. Each pod
holds up to PG_POOL_MAX; during a rollout at full scale there are maxReplicas + maxSurge
pods (and old pods still closing theirs: that is one reason for the reserve). Past
max_connections a new pod's connections are refused ("too many clients already"), its
startup probe never passes, and the rollout stalls at the worst moment.
*/}}
{{- define "service-template.validatePostgresConnections" -}}
{{- $pg := .Values.postgres }}
{{- $max := int $pg.maxConnections }}
{{- if gt $max 0 }}
{{- $budget := sub $max (int $pg.reservedConnections) }}
{{- if le $budget 0 }}
{{- fail (printf "postgres.reservedConnections (%d) must be below postgres.maxConnections (%d)" (int $pg.reservedConnections) $max) }}
{{- end }}
{{- $replicas := int .Values.replicaCount }}
{{- $replicasFrom := "replicaCount" }}
{{- if .Values.autoscaling.enabled }}
{{- $replicas = int .Values.autoscaling.maxReplicas }}
{{- $replicasFrom = "autoscaling.maxReplicas" }}
{{- end }}
{{- $surge := include "service-template.scaledIntOrPercent" (dict "value" .Values.updateStrategy.maxSurge "total" $replicas) | int }}
{{- $pool := int .Values.config.pgPoolMax }}
{{- $needed := mul $pool (add $replicas $surge) }}
{{- if gt $needed $budget }}
{{- fail (printf "Postgres connections: config.pgPoolMax (%d) x (%s (%d) + surge pods (%d, from updateStrategy.maxSurge %v)) = %d > postgres.maxConnections (%d) - postgres.reservedConnections (%d) = %d. A rollout at full scale would exhaust max_connections and new pods would never start. Lower config.pgPoolMax or the replica count, put a pooler such as PgBouncer in front (and set postgres.maxConnections to what it accepts), or set postgres.maxConnections to your server's max_connections." $pool $replicasFrom $replicas $surge .Values.updateStrategy.maxSurge $needed $max (int $pg.reservedConnections) $budget) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Milliseconds of a Prometheus duration such as 30s, 1m30s or 500ms.
*/}}
{{- define "service-template.durationMs" -}}
{{- $ms := 0 }}
{{- $factors := dict "y" 31536000000 "w" 604800000 "d" 86400000 "h" 3600000 "m" 60000 "s" 1000 "ms" 1 }}
{{- range regexFindAll "[0-9]+(ms|y|w|d|h|m|s)" . -1 }}
{{- $number := regexFind "^[0-9]+" . }}
{{- $ms = add $ms (mul (int64 $number) (get $factors (trimPrefix $number .))) }}
{{- end }}
{{- $ms }}
{{- end }}

{{/*
Development dependency names and connection URLs.
*/}}
{{- define "service-template.postgresName" -}}
{{- include "service-template.suffixedName" (list . "postgres") }}
{{- end }}

{{- define "service-template.redisName" -}}
{{- include "service-template.suffixedName" (list . "redis") }}
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
In preStop mode the drain is split: the kubelet sleeps drainSeconds - appDrainSeconds, then
the app drains the last appDrainSeconds itself. During the sleep the app does not know it is
terminating, so only the app's own drain can answer `Connection: close` and let busy
keep-alive clients reconnect; closing their connections at SIGTERM without it resets
requests already on their way (measured on a cluster: test/cluster, rollout scenario).
The total, and so the grace-period check, is the same in both modes.
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
{{- $appDrain := min (int $t.appDrainSeconds) $drain }}
preStopSeconds: {{ sub $drain $appDrain }}
drainDelayMs: {{ mul $appDrain 1000 }}
shutdownTimeoutMs: {{ mul (add $appDrain $close) 1000 }}
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
{{- if and .Values.startupProbe.enabled (not .Values.migrations.job.enabled) }}
{{- $budget := mul (int .Values.startupProbe.failureThreshold) (int .Values.startupProbe.periodSeconds) }}
{{- if gt (int .Values.migrations.expectedSeconds) $budget }}
{{- fail (printf "migrations.expectedSeconds (%d) exceeds the startup probe's budget (startupProbe.failureThreshold x periodSeconds = %ds): the kubelet would kill the pod mid-migration, over and over. Set migrations.job.enabled=true to run them in a pre-upgrade Job, or raise the startup budget." (int .Values.migrations.expectedSeconds) $budget) }}
{{- end }}
{{- end }}
{{- if and .Values.livenessProbe.enabled .Values.livenessProbe.terminationGracePeriodSeconds }}
{{- $term := include "service-template.termination" . | fromYaml }}
{{- $livenessGrace := int .Values.livenessProbe.terminationGracePeriodSeconds }}
{{- if lt $livenessGrace (int $term.preStopSeconds) }}
{{- fail (printf "livenessProbe.terminationGracePeriodSeconds (%d) must be at least the preStop sleep (%ds, from termination): a liveness restart runs the preStop hook too, and the kubelet would cut it short and SIGKILL the container without a SIGTERM, leaving no shutdown line in its log." $livenessGrace (int $term.preStopSeconds)) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
One HTTP probe on the container's named port, from a probe block of values.yaml
(startupProbe, readinessProbe, livenessProbe all share this shape; only liveness may set
its own terminationGracePeriodSeconds).
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
{{- with .terminationGracePeriodSeconds }}
terminationGracePeriodSeconds: {{ . }}
{{- end }}
{{- end }}

{{/*
The trace collector's port (NetworkPolicy egress): the one in tracing.endpoint, else the
scheme's (the OTLP exporters use the URL as given: no port means 80 or 443).
*/}}
{{- define "service-template.tracingPort" -}}
{{- $url := urlParse .Values.tracing.endpoint -}}
{{- $port := regexFind ":[0-9]+$" $url.host | trimPrefix ":" -}}
{{- if $port }}{{ $port }}{{ else if eq $url.scheme "https" }}443{{ else }}80{{ end -}}
{{- end }}

{{/*
OTEL_RESOURCE_ATTRIBUTES: the pod, namespace and node (from the downward API variables
rendered before it) and tracing.resourceAttributes, values percent-encoded as the
variable's format requires for ',', '=' and '%'.
*/}}
{{- define "service-template.tracingResourceAttributes" -}}
{{- $attrs := list "k8s.pod.name=$(K8S_POD_NAME)" "k8s.namespace.name=$(K8S_NAMESPACE_NAME)" "k8s.node.name=$(K8S_NODE_NAME)" -}}
{{- range $name, $value := .Values.tracing.resourceAttributes -}}
{{- $attrs = append $attrs (printf "%s=%s" $name (toString $value | replace "%" "%25" | replace "," "%2C" | replace "=" "%3D")) -}}
{{- end -}}
{{- join "," $attrs -}}
{{- end }}
