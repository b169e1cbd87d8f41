{{/* Names, labels and the rendered engines file. */}}

{{- define "turnout.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release's full name; objects are named after it. 40 characters leave room for suffixes. */}}
{{- define "turnout.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "turnout.selectorLabels" -}}
app.kubernetes.io/name: {{ include "turnout.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "turnout.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "turnout.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: turnout
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "turnout.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "turnout.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "turnout.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "turnout.routerImage" -}}
{{- $repository := default .Values.image.repository .Values.router.image.repository -}}
{{- $tag := default (default .Chart.AppVersion .Values.image.tag) .Values.router.image.tag -}}
{{- printf "%s:%s" $repository $tag -}}
{{- end -}}

{{/* The namespaces the operator watches: none (the whole cluster) in cluster-wide mode. */}}
{{- define "turnout.watchNamespaces" -}}
{{- if .Values.rbac.clusterWide -}}
{{- list | toJson -}}
{{- else if .Values.watchNamespaces -}}
{{- .Values.watchNamespaces | uniq | toJson -}}
{{- else -}}
{{- list .Release.Namespace | toJson -}}
{{- end -}}
{{- end -}}

{{/* The Secret holding the database URL, and its key. */}}
{{- define "turnout.databaseSecretName" -}}
{{- if .Values.database.existingSecret.name -}}
{{- .Values.database.existingSecret.name -}}
{{- else if .Values.database.quickstartUrl -}}
{{- printf "%s-database" (include "turnout.fullname" .) -}}
{{- else -}}
{{- fail "database: set database.existingSecret.name (a Secret holding the database URL), or database.quickstartUrl for a quick start that is not for production" -}}
{{- end -}}
{{- end -}}

{{- define "turnout.databaseSecretKey" -}}
{{- if .Values.database.existingSecret.name -}}
{{- .Values.database.existingSecret.key | default "url" -}}
{{- else -}}
url
{{- end -}}
{{- end -}}

{{/*
The engines file the operator reads (TURNOUT_ENGINES_FILE), as JSON: each entry of
experimentEngines with Turing's defaults filled in (type rpc-plugin, liveness period 10 s,
options {}). Keys the operator does not read are left out. Duplicate names fail here:
JSON Schema cannot say "unique by name".
*/}}
{{- define "turnout.enginesFile" -}}
{{- $engines := list -}}
{{- $seen := dict -}}
{{- range $index, $engine := .Values.experimentEngines -}}
{{- if hasKey $seen $engine.name -}}
{{- fail (printf "experimentEngines: the engine name %q is used more than once; names must be unique" $engine.name) -}}
{{- end -}}
{{- $_ := set $seen $engine.name true -}}
{{- $rpc := dict "image" $engine.rpcPlugin.image "livenessPeriodSeconds" (default 10 $engine.rpcPlugin.livenessPeriodSeconds) -}}
{{- $entry := dict "name" $engine.name "type" (default "rpc-plugin" $engine.type) "rpcPlugin" $rpc "options" (default (dict) $engine.options) -}}
{{- if $engine.serviceAccountKeyFilePath -}}
{{- $_ := set $entry "serviceAccountKeyFilePath" $engine.serviceAccountKeyFilePath -}}
{{- end -}}
{{- $engines = append $engines $entry -}}
{{- end -}}
{{- $engines | toJson -}}
{{- end -}}

{{/* Every field Pod Security "restricted" checks, for one container. */}}
{{- define "turnout.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "turnout.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "turnout.webhookServiceName" -}}
{{- include "turnout.fullname" . -}}
{{- end -}}

{{/*
Whether to render a monitoring.coreos.com/v1 object of the given kind: only when the API
server serves that kind (so an install on a cluster without the Prometheus operator does
not fail on an unknown kind), or when metrics.renderWithoutApi says to render anyway.
Call with (dict "root" $ "kind" "ServiceMonitor").
*/}}
{{- define "turnout.monitoringApi" -}}
{{- if or .root.Values.metrics.renderWithoutApi (.root.Capabilities.APIVersions.Has (printf "monitoring.coreos.com/v1/%s" .kind)) -}}
true
{{- end -}}
{{- end -}}

{{/* The labels of every router pod the operator makes (builders/names.py `labels`). */}}
{{- define "turnout.routerPodSelector" -}}
app.kubernetes.io/name: turnout-router
app.kubernetes.io/managed-by: turnout
app.kubernetes.io/component: router
{{- end -}}

{{/* The operator's `up` series: the ServiceMonitor's job is the Service's name. */}}
{{- define "turnout.operatorSelector" -}}
{{- if .Values.metrics.prometheusRule.operatorSelector -}}
{{- .Values.metrics.prometheusRule.operatorSelector -}}
{{- else -}}
{{- printf "job=%q, namespace=%q" (include "turnout.fullname" .) .Release.Namespace -}}
{{- end -}}
{{- end -}}

{{/*
An alert's labels and the start of its annotations (runbook_url); the caller adds
summary and description indented under `annotations`.
Call with (dict "root" $ "name" "TurnoutOperatorDown" "severity" "critical").
*/}}
{{- define "turnout.alertMeta" -}}
labels:
  severity: {{ .severity }}
  {{- with .root.Values.metrics.prometheusRule.additionalAlertLabels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
annotations:
  runbook_url: {{ printf "%s#%s" .root.Values.metrics.prometheusRule.runbookBaseUrl (lower .name) | quote }}
{{- end -}}
