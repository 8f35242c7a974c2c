{{/* The chart's name, or nameOverride. */}}
{{- define "lwf-orleans.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name: every object is named after it. */}}
{{- define "lwf-orleans.fullname" -}}
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

{{- define "lwf-orleans.selectorLabels" -}}
app.kubernetes.io/name: {{ include "lwf-orleans.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "lwf-orleans.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "lwf-orleans.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: lwf-orleans
{{- end }}

{{- define "lwf-orleans.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "lwf-orleans.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "lwf-orleans.clusterId" -}}
{{- default (include "lwf-orleans.fullname" .) .Values.cluster.clusterId }}
{{- end }}

{{- define "lwf-orleans.imageTag" -}}
{{- default .Chart.AppVersion .Values.image.tag }}
{{- end }}

{{/* The claim of a shared volume: (list $ "checkpoints") or (list $ "data"). */}}
{{- define "lwf-orleans.claim" -}}
{{- $root := index . 0 }}{{- $volume := index . 1 }}
{{- default (printf "%s-%s" (include "lwf-orleans.fullname" $root) $volume) (index $root.Values $volume).existingClaim }}
{{- end }}

{{/* How a silo or a client finds the cluster: Redis membership, the cluster and service ids. */}}
{{- define "lwf-orleans.clusterEnv" -}}
- name: Cluster__Clustering
  value: redis
{{ include "lwf-orleans.redisEnv" . }}
- name: Cluster__ClusterId
  value: {{ include "lwf-orleans.clusterId" . | quote }}
- name: Cluster__ServiceId
  value: {{ .Values.cluster.serviceId | quote }}
{{- if .Values.tls.enabled }}
- name: Cluster__TlsDirectory
  value: {{ .Values.tls.mountPath | quote }}
{{- else }}
- name: Cluster__Tls
  value: "off"
{{- end }}
{{- end }}

{{/* The Secret with the silos' TLS files (ca.crt, tls.crt, tls.key). */}}
{{- define "lwf-orleans.tlsSecret" -}}
{{- default (printf "%s-tls" (include "lwf-orleans.fullname" .)) .Values.tls.existingSecret }}
{{- end }}

{{/* The Secret with a client's TLS files (same layout, a client's certificate: the gateway and the client API only). */}}
{{- define "lwf-orleans.clientTlsSecret" -}}
{{- default (printf "%s-client-tls" (include "lwf-orleans.fullname" .)) .Values.tls.existingClientSecret }}
{{- end }}

{{/* The silos' TLS Secret as a volume (under "volumes:"); its mount (under "volumeMounts:") is lwf-orleans.tlsMount. */}}
{{- define "lwf-orleans.tlsVolume" -}}
{{- if .Values.tls.enabled }}
- name: tls
  secret:
    secretName: {{ include "lwf-orleans.tlsSecret" . }}
    defaultMode: 0400
{{- end }}
{{- end }}

{{/* The clients' TLS Secret as the volume "tls", for pods that talk to the cluster as a client (the test pod). */}}
{{- define "lwf-orleans.clientTlsVolume" -}}
{{- if .Values.tls.enabled }}
- name: tls
  secret:
    secretName: {{ include "lwf-orleans.clientTlsSecret" . }}
    defaultMode: 0400
{{- end }}
{{- end }}

{{- define "lwf-orleans.tlsMount" -}}
{{- if .Values.tls.enabled }}
- name: tls
  mountPath: {{ .Values.tls.mountPath }}
  readOnly: true
{{- end }}
{{- end }}

{{/* The Redis connection string as an env entry: the bundled Service, an external string (kept in the chart's Secret) or the user's Secret. */}}
{{- define "lwf-orleans.redisEnv" -}}
{{- if .Values.redis.bundled }}
{{ include "lwf-orleans.redisPasswordEnv" (list . "REDIS_PASSWORD") }}
- name: Cluster__RedisConnectionString
  value: {{ printf "%s-redis:6379,password=$(REDIS_PASSWORD)" (include "lwf-orleans.fullname" .) | quote }}
{{- else if .Values.redis.external.existingSecret }}
- name: Cluster__RedisConnectionString
  valueFrom:
    secretKeyRef:
      name: {{ .Values.redis.external.existingSecret }}
      key: {{ .Values.redis.external.existingSecretKey }}
{{- else if .Values.redis.external.connectionString }}
- name: Cluster__RedisConnectionString
  valueFrom:
    secretKeyRef:
      name: {{ include "lwf-orleans.fullname" . }}-redis
      key: connectionString
{{- else }}
{{- fail "redis.bundled is false: set redis.external.connectionString or redis.external.existingSecret" }}
{{- end }}
{{- end }}

{{/* The Secret that holds the bundled Redis's password. */}}
{{- define "lwf-orleans.redisAuthSecret" -}}
{{- default (printf "%s-redis-auth" (include "lwf-orleans.fullname" .)) .Values.redis.auth.existingSecret }}
{{- end }}

{{/* An env entry (list $ "NAME") holding the bundled Redis's password, from its Secret. */}}
{{- define "lwf-orleans.redisPasswordEnv" -}}
{{- $root := index . 0 -}}
- name: {{ index . 1 }}
  valueFrom:
    secretKeyRef:
      name: {{ include "lwf-orleans.redisAuthSecret" $root }}
      key: {{ $root.Values.redis.auth.existingSecretKey }}
{{- end }}

{{/* NetworkPolicy peers of the client-facing ports: the release's pods, and pods labelled as clients. */}}
{{- define "lwf-orleans.clientPeers" -}}
- podSelector:
    matchLabels:
      {{- include "lwf-orleans.selectorLabels" . | nindent 6 }}
{{- with .Values.networkPolicy.clientLabels }}
- podSelector:
    matchLabels:
      {{- toYaml . | nindent 6 }}
{{- end }}
{{- end }}
