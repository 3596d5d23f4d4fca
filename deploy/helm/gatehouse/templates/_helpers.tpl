{{/*
The chart's name (nameOverride, else the chart name), at most 63 characters.
*/}}
{{- define "gatehouse.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The resource name prefix: fullnameOverride, else RELEASE-NAME (just the
release name when it already contains the chart name).
*/}}
{{- define "gatehouse.fullname" -}}
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

{{- define "gatehouse.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of every resource.
*/}}
{{- define "gatehouse.labels" -}}
helm.sh/chart: {{ include "gatehouse.chart" . }}
{{ include "gatehouse.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
The labels that select the pods.
*/}}
{{- define "gatehouse.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gatehouse.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "gatehouse.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "gatehouse.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The Secret holding GATEHOUSE_SECRET: existingSecret, or the chart's.
*/}}
{{- define "gatehouse.secretName" -}}
{{- default (include "gatehouse.fullname" .) .Values.secret.existingSecret }}
{{- end }}

{{/*
Whether more than one pod may run at once.
*/}}
{{- define "gatehouse.multiReplica" -}}
{{- if or .Values.autoscaling.enabled (gt (int .Values.replicaCount) 1) }}true{{ end }}
{{- end }}

{{/*
The pods' gateway.yaml: the values' config with the keys the chart owns
(the listeners it exposes, the secret from the environment: never the
value itself). It fails when
more than one replica could run on a per-pod store: SQLite is a file in
one pod, and the in-process store keeps sessions and rate limits in one
process.
*/}}
{{- define "gatehouse.config" -}}
{{- $cfg := deepCopy (.Values.config | default dict) }}
{{- $server := get $cfg "server" | default dict }}
{{- $_ := set $server "listen" "0.0.0.0:8080" }}
{{- $_ := set $cfg "server" $server }}
{{- $_ := set $cfg "metrics" (dict "listen" "0.0.0.0:9090") }}
{{- $_ := unset $cfg "secret" }}
{{- if include "gatehouse.multiReplica" . }}
{{- $db := get $cfg "database" | default dict }}
{{- if ne (get $db "driver" | default "sqlite") "postgres" }}
{{- fail "gatehouse: more than one replica (replicaCount > 1 or autoscaling.enabled) needs config.database.driver: postgres; SQLite is a file in one pod" }}
{{- end }}
{{- $redis := get $cfg "redis" | default dict }}
{{- if not (or (get $redis "url") (get $redis "addrs")) }}
{{- fail "gatehouse: more than one replica (replicaCount > 1 or autoscaling.enabled) needs Redis (config.redis.url or config.redis.addrs); the in-process store is per pod" }}
{{- end }}
{{- end }}
{{- toYaml $cfg }}
{{- /* Quoted, so that any value of the variable stays one YAML string. */}}
secret: "${GATEHOUSE_SECRET}"
{{- end }}

{{/*
Whether the pods keep a SQLite file in /app/data.
*/}}
{{- define "gatehouse.sqlite" -}}
{{- $db := .Values.config.database | default dict }}
{{- if eq (get $db "driver" | default "sqlite") "sqlite" }}true{{ end }}
{{- end }}
