{{/* Chart name, cut to a DNS label. */}}
{{- define "pixelgate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Resource name prefix: <release>-pixelgate unless the release name already contains it. */}}
{{- define "pixelgate.fullname" -}}
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

{{- /* Labels of every object, without its component. */}}
{{- define "pixelgate.commonLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "pixelgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: pixelgate
{{- end }}

{{- /* The operator's objects. */}}
{{- define "pixelgate.labels" -}}
{{ include "pixelgate.commonLabels" . }}
app.kubernetes.io/component: operator
{{- end }}

{{- /* What the workflows' pods use in each watched namespace. */}}
{{- define "pixelgate.workflowLabels" -}}
{{ include "pixelgate.commonLabels" . }}
app.kubernetes.io/component: workflow
{{- end }}

{{- define "pixelgate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "pixelgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "pixelgate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (printf "%s-operator" (include "pixelgate.fullname" .)) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "pixelgate.operatorImage" -}}
{{- printf "%s:%s" .Values.operator.image.repository (default .Chart.AppVersion .Values.operator.image.tag) }}
{{- end }}

{{- define "pixelgate.stepImage" -}}
{{- printf "%s:%s" .Values.workflows.image.repository (default .Chart.AppVersion .Values.workflows.image.tag) }}
{{- end }}

{{- define "pixelgate.trainImage" -}}
{{- printf "%s:%s" .Values.workflows.trainImage.repository (default .Chart.AppVersion .Values.workflows.trainImage.tag) }}
{{- end }}

{{/* Namespaces where workflows run: the release's, the watched ones and workflows.namespaces. */}}
{{- define "pixelgate.workflowNamespaces" -}}
{{- $all := list .Release.Namespace }}
{{- if not .Values.operator.watch.allNamespaces }}
{{- $all = concat $all .Values.operator.watch.namespaces }}
{{- end }}
{{- $all = concat $all .Values.workflows.namespaces }}
{{- toJson (uniq $all) }}
{{- end }}
