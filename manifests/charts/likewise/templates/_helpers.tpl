{{/*
Labels of every object: the kustomize bases' app.kubernetes.io/part-of, Helm's own, and
commonLabels.
*/}}
{{- define "likewise.labels" -}}
app.kubernetes.io/part-of: likewise
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
Labels of a component's Deployment and pods. The selector is app.kubernetes.io/name alone, as in
the bases, so that a Deployment the bases made can be taken over (a selector is immutable).
Call with (dict "root" $ "name" "likewise-classifier" "component" "classifier").
*/}}
{{- define "likewise.componentLabels" -}}
{{ include "likewise.labels" .root }}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* The ServiceAccount subject of a component, in the release namespace. */}}
{{- define "likewise.subject" -}}
- kind: ServiceAccount
  name: {{ .name }}
  namespace: {{ .root.Release.Namespace }}
{{- end -}}

{{- define "likewise.image" -}}
{{ printf "%s:%s" .image.repository (.image.tag | default .root.Chart.AppVersion) }}
{{- end -}}

{{/* The database profile's schedulerName: default-scheduler in replace mode. */}}
{{- define "likewise.databaseProfile" -}}
{{- if eq .Values.scheduler.mode "replace" -}}
default-scheduler
{{- else -}}
{{ .Values.scheduler.name }}
{{- end -}}
{{- end -}}

{{/*
The KubeSchedulerConfiguration likewise-scheduler runs with, and the rebalancer simulates: as
manifests/scheduler/base/scheduler-config.yaml (second mode) or
manifests/scheduler/replace/kube-scheduler-config.yaml (replace mode), from the values.
*/}}
{{- define "likewise.schedulerConfig" -}}
{{- $s := .Values.scheduler -}}
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
{{- if eq $s.mode "replace" }}
clientConnection:
  kubeconfig: /etc/kubernetes/scheduler.conf
leaderElection:
  # kube-scheduler's own lease (kube-system/kube-scheduler): exactly one of the two may run.
  leaderElect: true
{{- else }}
leaderElection:
  leaderElect: {{ $s.leaderElection.enabled }}
  # Its own lease, so it never contends with kube-scheduler's.
  resourceName: likewise-scheduler
  resourceNamespace: {{ .Release.Namespace }}
{{- end }}
profiles:
{{- if eq $s.mode "replace" }}
{{ include "likewise.databaseProfileConfig" (dict "s" $s "name" "default-scheduler") }}
{{- end }}
{{- /* In replace mode too: pods that opted into the second scheduler's name are placed as
before, so moving from one mode to the other changes no pod. */}}
{{ include "likewise.databaseProfileConfig" (dict "s" $s "name" $s.name) }}
{{- if $s.notebook.enabled }}
- schedulerName: {{ $s.notebook.name }}
  {{- with $s.notebook.percentageOfNodesToScore }}
  percentageOfNodesToScore: {{ . }}
  {{- end }}
  plugins:
    multiPoint:
      enabled:
      - name: NotebookSpread
        weight: {{ $s.notebook.weight }}
  pluginConfig:
  - name: NotebookSpread
    args:
      {{- toYaml $s.notebook.args | nindent 6 }}
{{- end }}
{{- with $s.extraProfiles }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* A database profile (WorkloadTypeAffinity) named .name. */}}
{{- define "likewise.databaseProfileConfig" -}}
- schedulerName: {{ .name }}
  {{- with .s.percentageOfNodesToScore }}
  percentageOfNodesToScore: {{ . }}
  {{- end }}
  plugins:
    multiPoint:
      enabled:
      - name: WorkloadTypeAffinity
        weight: {{ .s.workloadTypeAffinity.weight }}
  pluginConfig:
  - name: WorkloadTypeAffinity
    args:
      {{- toYaml .s.workloadTypeAffinity.args | nindent 6 }}
{{- end -}}

{{/*
A component's pod affinity: .affinity when set, else anti-affinity among its own replicas.
Call with (dict "c" .Values.classifier "name" "likewise-classifier").
*/}}
{{- define "likewise.affinity" -}}
{{- if .c.affinity }}
affinity:
  {{- toYaml .c.affinity | nindent 2 }}
{{- else if eq .c.podAntiAffinity "soft" }}
affinity:
  podAntiAffinity:
    preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      podAffinityTerm:
        topologyKey: {{ .c.podAntiAffinityTopologyKey }}
        labelSelector:
          matchLabels:
            app.kubernetes.io/name: {{ .name }}
{{- else if eq .c.podAntiAffinity "hard" }}
affinity:
  podAntiAffinity:
    requiredDuringSchedulingIgnoredDuringExecution:
    - topologyKey: {{ .c.podAntiAffinityTopologyKey }}
      labelSelector:
        matchLabels:
          app.kubernetes.io/name: {{ .name }}
{{- end }}
{{- end -}}

{{/* Scheduling fields common to every component's pod spec. */}}
{{- define "likewise.podScheduling" -}}
{{- with .c.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- include "likewise.affinity" . }}
{{- with .c.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .c.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .c.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* The pod securityContext of every component (Pod Security "restricted"). */}}
{{- define "likewise.podSecurityContext" -}}
securityContext:
  runAsNonRoot: true
  runAsUser: 65532
  runAsGroup: 65532
  seccompProfile:
    type: RuntimeDefault
{{- end -}}

{{- define "likewise.containerSecurityContext" -}}
securityContext:
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  capabilities:
    drop: ["ALL"]
{{- end -}}

{{/*
A PodDisruptionBudget for a component. Call with
(dict "root" $ "c" .Values.classifier "name" "likewise-classifier" "component" "classifier").
*/}}
{{- define "likewise.pdb" -}}
{{- if .c.podDisruptionBudget.enabled }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ .name }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "likewise.componentLabels" . | nindent 4 }}
spec:
  {{- if not (kindIs "invalid" .c.podDisruptionBudget.minAvailable) }}
  minAvailable: {{ .c.podDisruptionBudget.minAvailable }}
  {{- else }}
  maxUnavailable: {{ .c.podDisruptionBudget.maxUnavailable }}
  {{- end }}
  selector:
    matchLabels:
      app.kubernetes.io/name: {{ .name }}
{{- end }}
{{- end -}}

{{/*
The Service and ServiceMonitor that scrape a component's /metrics over HTTPS with a token. Call
with (dict "root" $ "name" "likewise-classifier" "component" "classifier" "port" 10261).
*/}}
{{- define "likewise.serviceMonitor" -}}
{{- $m := .root.Values.metrics.serviceMonitor -}}
{{- if $m.enabled }}
apiVersion: v1
kind: Service
metadata:
  name: {{ .name }}-metrics
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "likewise.componentLabels" . | nindent 4 }}
spec:
  selector:
    app.kubernetes.io/name: {{ .name }}
  ports:
  - name: https
    port: {{ .port }}
    targetPort: https
    protocol: TCP
---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{ .name }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "likewise.componentLabels" . | nindent 4 }}
    {{- with $m.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  selector:
    matchLabels:
      app.kubernetes.io/name: {{ .name }}
      app.kubernetes.io/instance: {{ .root.Release.Name }}
  namespaceSelector:
    matchNames:
    - {{ .root.Release.Namespace }}
  endpoints:
  - port: https
    path: /metrics
    scheme: https
    interval: {{ $m.interval }}
    {{- with $m.scrapeTimeout }}
    scrapeTimeout: {{ . }}
    {{- end }}
    {{- if $m.authorization }}
    authorization:
      {{- toYaml $m.authorization | nindent 6 }}
    {{- else }}
    bearerTokenFile: {{ $m.bearerTokenFile }}
    {{- end }}
    {{- with $m.tlsConfig }}
    tlsConfig:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- with $m.relabelings }}
    relabelings:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- with $m.metricRelabelings }}
    metricRelabelings:
      {{- toYaml . | nindent 6 }}
    {{- end }}
{{- end }}
{{- end -}}

{{/* The serving flags and mounts of a controller: --secure-port and an optional certificate. */}}
{{- define "likewise.servingArgs" -}}
- --secure-port={{ .c.securePort }}
{{- if .c.tlsSecretName }}
- --tls-cert-file=/etc/likewise-tls/tls.crt
- --tls-private-key-file=/etc/likewise-tls/tls.key
{{- end }}
{{- end -}}
