{{/* Names, labels and shared pieces of the asyncaction chart. */}}

{{- define "asyncaction.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* "<release>-<chart>", or the release name alone when it already contains the chart name. */}}
{{- define "asyncaction.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "asyncaction.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "asyncaction.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: asyncaction
{{- end }}

{{/* Selector labels of one component: include with (dict "root" $ "component" "hook"). */}}
{{- define "asyncaction.selectorLabels" -}}
app.kubernetes.io/name: {{ include "asyncaction.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "asyncaction.componentLabels" -}}
{{ include "asyncaction.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* The image reference: registry/repository, then @digest or :tag (default appVersion). */}}
{{- define "asyncaction.image" -}}
{{- $repo := .Values.image.repository }}
{{- if .Values.image.registry }}{{ $repo = printf "%s/%s" .Values.image.registry $repo }}{{ end }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" $repo .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repo (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{- define "asyncaction.operatorServiceAccount" -}}
{{- default (printf "%s-operator" (include "asyncaction.fullname" .)) .Values.operator.serviceAccount.name }}
{{- end }}

{{- define "asyncaction.hookServiceAccount" -}}
{{- default (printf "%s-hook" (include "asyncaction.fullname" .)) .Values.hook.serviceAccount.name }}
{{- end }}

{{/* The JOB_HOOK URL every job receives: the hook Service's cluster DNS name by default. */}}
{{- define "asyncaction.hookURL" -}}
{{- if .Values.hook.url }}
{{- if and (gt (int .Values.hook.shards) 1) (not (contains "{shard}" .Values.hook.url)) }}
{{- fail (printf "hook.url (%s) must contain {shard} when hook.shards is %d: each job reaches its own shard's Service" .Values.hook.url (int .Values.hook.shards)) }}
{{- end }}
{{- .Values.hook.url }}
{{- else if gt (int .Values.hook.shards) 1 }}
{{- printf "http://%s-hook-{shard}.%s.svc.cluster.local:%d" (include "asyncaction.fullname" .) .Release.Namespace (int .Values.hook.service.port) }}
{{- else }}
{{- printf "http://%s-hook.%s.svc.cluster.local:%d" (include "asyncaction.fullname" .) .Release.Namespace (int .Values.hook.service.port) }}
{{- end }}
{{- end }}

{{- define "asyncaction.masterKeysSecret" -}}
{{- default (printf "%s-master-keys" (include "asyncaction.fullname" .)) .Values.masterKeys.existingSecret }}
{{- end }}

{{/* Whether the pods mount a stores file: an existing Secret or a document from values. */}}
{{- define "asyncaction.hasStores" -}}
{{- if or .Values.stores.existingSecret .Values.stores.config }}true{{ end }}
{{- end }}

{{- define "asyncaction.storesSecret" -}}
{{- default (printf "%s-stores" (include "asyncaction.fullname" .)) .Values.stores.existingSecret }}
{{- end }}

{{/* The namespaces a namespaced install watches (default: the release's). */}}
{{- define "asyncaction.watchNamespaces" -}}
{{- $namespaces := .Values.rbac.namespaces }}
{{- if not $namespaces }}{{ $namespaces = list .Release.Namespace }}{{ end }}
{{- toJson $namespaces }}
{{- end }}

{{- /* Where the operator's leader Lease lives, and its Role: the release's namespace,
     or with namespaced scope the first served one (where it has always been) */}}
{{- define "asyncaction.operatorLeaseNamespace" -}}
{{- if eq .Values.rbac.scope "namespaced" }}{{ first (include "asyncaction.watchNamespaces" . | fromJsonArray) }}{{ else }}{{ .Release.Namespace }}{{ end }}
{{- end }}

{{- define "asyncaction.podSecurityContext" -}}
{{- toYaml .Values.podSecurityContext }}
{{- end }}

{{- define "asyncaction.securityContext" -}}
{{- toYaml .Values.securityContext }}
{{- end }}

{{/* The label that ties a hook shard's pods to its Deployment and Service (the
operator's asyncaction.api.names.LABEL_HOOK_SHARD): include with the shard number. */}}
{{- define "asyncaction.hookShardLabel" -}}
asyncaction.dev/hook-shard: {{ . | quote }}
{{- end }}

{{/* A hook shard's Deployment and Service name: include with (dict "root" $ "shard" i);
shard -1, or one shard in all, is the unsharded name. */}}
{{- define "asyncaction.hookName" -}}
{{- $fullname := include "asyncaction.fullname" .root }}
{{- if and (ge (int .shard) 0) (gt (int .root.Values.hook.shards) 1) }}
{{- printf "%s-hook-%d" $fullname (int .shard) }}
{{- else }}
{{- printf "%s-hook" $fullname }}
{{- end }}
{{- end }}
