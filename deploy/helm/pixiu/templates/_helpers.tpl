{{- define "pixiu.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "pixiu.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "pixiu.labels" -}}
{{ include "pixiu.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The Secret holding key k: the existing one, else this chart's. */}}
{{- define "pixiu.secretName" -}}
{{- if .existing -}}{{ .existing }}{{- else -}}{{ include "pixiu.fullname" .root }}{{- end -}}
{{- end -}}

{{- define "pixiu.persistent" -}}
{{- if and .Values.persistence.enabled (eq (int .Values.replicaCount) 1) (not .Values.store.dsn) (not .Values.store.existingSecret) -}}true{{- end -}}
{{- end -}}

{{- define "pixiu.check" -}}
{{- if gt (int .Values.replicaCount) 1 -}}
{{- if not (or .Values.redis.url .Values.redis.existingSecret) -}}
{{- fail "replicaCount > 1 needs redis.url or redis.existingSecret: the replicas form one cluster through Redis" -}}
{{- end -}}
{{- if not (or .Values.store.dsn .Values.store.existingSecret) -}}
{{- fail "replicaCount > 1 needs store.dsn or store.existingSecret (PostgreSQL): every replica must serve the same apps" -}}
{{- end -}}
{{- end -}}
{{- if lt (int .Values.drainWindowSeconds) 0 -}}
{{- fail "drainWindowSeconds must not be negative" -}}
{{- end -}}
{{- end -}}
