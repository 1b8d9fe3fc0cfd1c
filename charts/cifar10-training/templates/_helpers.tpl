{{/* Chart name and release-scoped names. */}}
{{- define "cifar10-training.fullname" -}}
{{- printf "%s" .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}

{{- define "cifar10-training.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ml-platform
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "cifar10-training.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag }}
{{- end -}}
{{- end -}}

{{/* Node labels GKE puts on nodes whose GPUs are shared; argument: the gpu values. */}}
{{- define "cifar10-training.sharingSelector" -}}
{{- with .sharing }}{{ if .strategy }}
cloud.google.com/gke-gpu-sharing-strategy: {{ .strategy }}
cloud.google.com/gke-max-shared-clients-per-gpu: {{ .maxClientsPerGpu | quote }}
{{- end }}{{ end }}
{{- end -}}

{{/* Kueue's queue label and ProvisioningRequest annotation of a job (nothing without a queue).
     Argument: dict "root" $ "what" "labels"|"annotations". */}}
{{- define "cifar10-training.queueMeta" -}}
{{- $q := .root.Values.queue | default dict -}}
{{- if $q.name -}}
{{- if eq .what "labels" }}
kueue.x-k8s.io/queue-name: {{ $q.name }}
{{- else if $q.maxRunDurationSeconds }}
provreq.kueue.x-k8s.io/maxRunDurationSeconds: {{ $q.maxRunDurationSeconds | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Trainer arguments common to training and tuning; tuned parameters follow and win. */}}
{{- define "cifar10-training.args" -}}
{{- range $key, $value := .Values.hyperparameters }}
- --{{ $key }}={{ $value }}
{{- end }}
- --data={{ .Values.data.source }}
{{- with .Values.data.dataDir }}
- --data-dir={{ . }}
{{- end }}
{{- with .Values.output.modelDir }}
- --model-dir={{ . }}
{{- end }}
{{- with .Values.output.checkpointDir }}
- --checkpoint-dir={{ . }}
{{- end }}
{{- with .Values.output.tensorboardDir }}
- --tensorboard-dir={{ . }}
{{- end }}
{{- end -}}

{{/* A replica's pod template. Arguments: dict "root" $ "extraArgs" list. */}}
{{- define "cifar10-training.podTemplate" -}}
{{- $root := .root -}}
{{- $v := $root.Values -}}
metadata:
  labels:
    {{- include "cifar10-training.labels" $root | nindent 4 }}
spec:
  serviceAccountName: {{ $v.serviceAccountName }}
  automountServiceAccountToken: false
  securityContext:
    runAsNonRoot: true
    runAsUser: 1000
    runAsGroup: 1000
    fsGroup: 1000
    seccompProfile:
      type: RuntimeDefault
  {{- if $v.gpu.type }}
  nodeSelector:
    cloud.google.com/gke-accelerator: {{ $v.gpu.type }}
    {{- include "cifar10-training.sharingSelector" $v.gpu | nindent 4 }}
  tolerations:
    - key: nvidia.com/gpu
      operator: Exists
      effect: NoSchedule
  {{- end }}
  containers:
    # The Training Operator looks for the container named "tensorflow".
    - name: tensorflow
      image: {{ include "cifar10-training.image" $root }}
      imagePullPolicy: {{ $v.image.pullPolicy }}
      command: ["python", "-m", "workloads.cifar10.train"]
      args:
        {{- include "cifar10-training.args" $root | nindent 8 }}
        {{- range .extraArgs }}
        - {{ . }}
        {{- end }}
      resources:
        requests:
          {{- toYaml $v.resources.requests | nindent 10 }}
          {{- if $v.gpu.type }}
          nvidia.com/gpu: {{ $v.gpu.count }}
          {{- end }}
        limits:
          {{- toYaml $v.resources.limits | nindent 10 }}
          {{- if $v.gpu.type }}
          nvidia.com/gpu: {{ $v.gpu.count }}
          {{- end }}
      securityContext:
        allowPrivilegeEscalation: false
        readOnlyRootFilesystem: true
        capabilities:
          drop: ["ALL"]
      volumeMounts:
        - name: scratch
          mountPath: /tmp
  volumes:
    - name: scratch
      emptyDir:
        sizeLimit: {{ $v.scratchSizeLimit }}
{{- end -}}

{{/* tfReplicaSpecs for a TFJob. Arguments: dict "root" $ "extraArgs" list. */}}
{{- define "cifar10-training.replicaSpecs" -}}
{{- $root := .root -}}
Chief:
  replicas: {{ $root.Values.replicas.chief }}
  restartPolicy: OnFailure
  template:
    {{- include "cifar10-training.podTemplate" . | nindent 4 }}
{{- if gt (int $root.Values.replicas.worker) 0 }}
Worker:
  replicas: {{ $root.Values.replicas.worker }}
  restartPolicy: OnFailure
  template:
    {{- include "cifar10-training.podTemplate" . | nindent 4 }}
{{- end }}
{{- end -}}
