{{- define "cifar10-serving.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ml-platform
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "cifar10-serving.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag }}
{{- end -}}
{{- end -}}

{{- define "cifar10-serving.resources" -}}
requests:
  {{- toYaml .Values.resources.requests | nindent 2 }}
  {{- if .Values.gpu.type }}
  nvidia.com/gpu: {{ .Values.gpu.count }}
  {{- end }}
limits:
  {{- toYaml .Values.resources.limits | nindent 2 }}
  {{- if .Values.gpu.type }}
  nvidia.com/gpu: {{ .Values.gpu.count }}
  {{- end }}
{{- end -}}

{{- define "cifar10-serving.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
{{- end -}}
