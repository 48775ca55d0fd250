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

{{/* Pod spec shared by the Deployment and the DLQ replay Job; pass (dict "root" $ "args" list). */}}
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
  - name: state
    emptyDir: {}
  - name: tmp
    emptyDir: {}
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
    securityContext:
      {{- toYaml $root.Values.securityContext | nindent 6 }}
    resources:
      {{- toYaml $root.Values.resources | nindent 6 }}
{{- end }}
