{{/* Chart name, truncated to the DNS label limit. */}}
{{- define "capi-consumer.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-qualified name. */}}
{{- define "capi-consumer.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "capi-consumer.selectorLabels" -}}
app.kubernetes.io/name: {{ include "capi-consumer.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "capi-consumer.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "capi-consumer.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "capi-consumer.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "capi-consumer.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "capi-consumer.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The Secret holding the CAPI_* secret env vars: the user's, the chart's, or none. */}}
{{- define "capi-consumer.secretName" -}}
{{- if .Values.secrets.existingSecret }}
{{- .Values.secrets.existingSecret }}
{{- else if .Values.secrets.create }}
{{- include "capi-consumer.fullname" . }}
{{- end }}
{{- end }}

{{/* delivery.drain_timeout_s from the config (the consumer's default is 20 s). */}}
{{- define "capi-consumer.drainSeconds" -}}
{{- $delivery := default dict .Values.config.delivery }}
{{- ceil (default 20 $delivery.drain_timeout_s) | int }}
{{- end }}

{{/* The dedup backend from the config: embedded (default) or redis. */}}
{{- define "capi-consumer.dedupBackend" -}}
{{- $dedup := default dict .Values.config.dedup }}
{{- default "embedded" $dedup.backend }}
{{- end }}

{{/*
Refuse values that would break the dedup guarantee; each message names the fix.
- More than one replica (or autoscaling) needs the shared Redis window: the embedded window lives
  on one pod's volume, so a partition moving to another replica would forget its recent events.
- The Redis backend needs an address: redis.existingSecret (URL in the Secret) or
  config.dedup.redis_url (no credentials in it; the schema refuses them).
*/}}
{{- define "capi-consumer.validate" -}}
{{- $backend := include "capi-consumer.dedupBackend" . }}
{{- $dedup := default dict .Values.config.dedup }}
{{- if and (ne $backend "redis") (or .Values.autoscaling.enabled (gt (int .Values.replicaCount) 1)) }}
{{- $why := ternary "autoscaling.enabled" (printf "replicaCount %v" .Values.replicaCount) .Values.autoscaling.enabled }}
{{- fail (printf "%s needs config.dedup.backend: redis, with the Redis URL in redis.existingSecret: the %s dedup window lives on one pod's volume, so the other replicas would not see its events and would send repeats to Meta again. Set config.dedup.backend=redis and redis.existingSecret, or run one replica without autoscaling." $why $backend) }}
{{- end }}
{{- if and (eq $backend "redis") (not .Values.redis.existingSecret) (not $dedup.redis_url) }}
{{- fail "config.dedup.backend redis needs the Redis address: set redis.existingSecret (a Secret whose key redis.urlKey holds redis://[:password@]host:6379/0), or config.dedup.redis_url without credentials plus redis.existingSecret and redis.passwordKey for the password." }}
{{- end }}
{{- end }}

{{/*
Redis address and password from the user's Secret (backend redis). A (credential-free)
config.dedup.redis_url is used as it is: then only the password comes from the Secret.
*/}}
{{- define "capi-consumer.redisEnv" -}}
{{- $r := .Values.redis }}
{{- $dedup := default dict .Values.config.dedup }}
{{- if and (eq (include "capi-consumer.dedupBackend" .) "redis") $r.existingSecret }}
{{- if and $r.urlKey (not $dedup.redis_url) }}
- name: CAPI_DEDUP__REDIS_URL
  valueFrom:
    secretKeyRef: {name: {{ $r.existingSecret | quote }}, key: {{ $r.urlKey | quote }}}
{{- end }}
{{- if $r.passwordKey }}
- name: CAPI_DEDUP__REDIS_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ $r.existingSecret | quote }}, key: {{ $r.passwordKey | quote }}}
{{- end }}
{{- end }}
{{- end }}

{{/*
Pod template of the consumer (StatefulSet or Deployment): checksums roll the pods when the config
or the chart-made Secret changes.
*/}}
{{- define "capi-consumer.consumerPod" -}}
metadata:
  labels:
    {{- include "capi-consumer.selectorLabels" . | nindent 4 }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
    {{- if and .Values.secrets.create (not .Values.secrets.existingSecret) }}
    checksum/secret: {{ include (print $.Template.BasePath "/secret.yaml") . | sha256sum }}
    {{- end }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  # SIGTERM starts the drain: it may take delivery.drain_timeout_s, then the group is left.
  terminationGracePeriodSeconds: {{ add (include "capi-consumer.drainSeconds" .| int) .Values.terminationGraceExtraSeconds }}
  {{- $claim := eq (include "capi-consumer.dedupBackend" .) "embedded" }}
  {{- include "capi-consumer.podSpec" (dict "root" . "container" "consumer" "claim" $claim "args" (list "run" "--config" "/etc/capi-consumer/config.yaml")) | trim | nindent 2 }}
      ports:
        - name: metrics
          containerPort: {{ .Values.metrics.port }}
          protocol: TCP
      startupProbe:
        httpGet: {path: /livez, port: metrics}
        {{- toYaml .Values.probes.startup | nindent 8 }}
      livenessProbe:
        httpGet: {path: /livez, port: metrics}
        {{- toYaml .Values.probes.liveness | nindent 8 }}
      readinessProbe:
        httpGet: {path: /readyz, port: metrics}
        {{- toYaml .Values.probes.readiness | nindent 8 }}
{{- end }}

{{/*
Pod spec shared by the consumer and the DLQ replay Job; pass (dict "root" $ "container" name
"args" list "claim" bool). With "claim" the state volume is the StatefulSet's claim, else an
emptyDir (nothing persistent is written there).
*/}}
{{- define "capi-consumer.podSpec" -}}
{{- $root := .root }}
serviceAccountName: {{ include "capi-consumer.serviceAccountName" $root }}
automountServiceAccountToken: false
{{- with $root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $root.Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
securityContext:
  {{- toYaml $root.Values.podSecurityContext | nindent 2 }}
{{- with $root.Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $root.Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $root.Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
volumes:
  - name: config
    configMap:
      name: {{ include "capi-consumer.fullname" $root }}
  {{- if not .claim }}
  - name: state
    emptyDir: {}
  {{- end }}
  - name: tmp
    emptyDir: {}
  {{- with $root.Values.secretFiles.existingSecret }}
  # Whole-volume mount (never subPath): the kubelet swaps in a rotated Secret without a restart.
  - name: secret-files
    secret:
      secretName: {{ . | quote }}
      defaultMode: 0440
  {{- end }}
containers:
  - name: {{ .container }}
    image: {{ include "capi-consumer.image" $root }}
    imagePullPolicy: {{ $root.Values.image.pullPolicy }}
    args:
      {{- toYaml .args | nindent 6 }}
    env:
      - name: CAPI_OBSERVABILITY__HOST
        value: "0.0.0.0"
      - name: CAPI_OBSERVABILITY__PORT
        value: {{ $root.Values.metrics.port | quote }}
      - name: CAPI_SCHEMA_REGISTRY__SCHEMAS_DIR
        value: /app/schemas
      - name: CAPI_DEDUP__PATH
        value: /var/lib/capi-consumer/dedup
      {{- with include "capi-consumer.redisEnv" $root | trim }}
      {{- . | nindent 6 }}
      {{- end }}
      {{- with $root.Values.extraEnv }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
    {{- with include "capi-consumer.secretName" $root }}
    envFrom:
      - secretRef:
          name: {{ . }}
    {{- end }}
    volumeMounts:
      - name: config
        mountPath: /etc/capi-consumer
        readOnly: true
      - name: state
        mountPath: /var/lib/capi-consumer
      - name: tmp
        mountPath: /tmp
      {{- if $root.Values.secretFiles.existingSecret }}
      - name: secret-files
        mountPath: {{ $root.Values.secretFiles.mountPath }}
        readOnly: true
      {{- end }}
    securityContext:
      {{- toYaml $root.Values.securityContext | nindent 6 }}
    resources:
      {{- toYaml $root.Values.resources | nindent 6 }}
{{- end }}
