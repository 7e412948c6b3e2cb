{{/* Names, labels and the pieces every workload shares. */}}

{{- define "zkgate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "zkgate.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "zkgate.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "zkgate.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "zkgate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "zkgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "zkgate.labels" -}}
{{ include "zkgate.selectorLabels" . }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Labels of one component: (dict "root" $ "component" "gateway"). */}}
{{- define "zkgate.componentLabels" -}}
{{ include "zkgate.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "zkgate.componentSelector" -}}
{{ include "zkgate.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "zkgate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "zkgate.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* An image reference: (dict "image" .Values.gateway.image "root" $); a digest wins. */}}
{{- define "zkgate.image" -}}
{{- if .image.digest -}}
{{- printf "%s@%s" .image.repository .image.digest -}}
{{- else -}}
{{- printf "%s:%s" .image.repository (default .root.Chart.AppVersion .image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Where the chart mounts things inside the containers. */}}
{{- define "zkgate.paths.data" -}}/var/lib/zkgate{{- end -}}
{{- define "zkgate.paths.artifacts" -}}/var/lib/zkgate-artifacts{{- end -}}
{{- define "zkgate.paths.keyCache" -}}/var/cache/zkgate/keys{{- end -}}
{{- define "zkgate.paths.srs" -}}/var/lib/zkgate-srs{{- end -}}
{{- define "zkgate.paths.databaseUrl" -}}/etc/zkgate/database/url{{- end -}}
{{- define "zkgate.paths.tenants" -}}/etc/zkgate/access/tenants.json{{- end -}}
{{- define "zkgate.paths.tls" -}}/etc/zkgate/tls{{- end -}}
{{- define "zkgate.paths.modelRepository" -}}/var/lib/zkgate-models{{- end -}}
{{- define "zkgate.paths.modelConfigs" -}}/etc/zkgate/model-configs{{- end -}}
{{- define "zkgate.paths.signingKey" -}}/var/lib/zkgate/keys/receipt-ed25519.key{{- end -}}

{{- define "zkgate.databaseSecretName" -}}
{{- if eq .Values.database.mode "external" -}}
{{- required "database.external.existingSecret is required when database.mode is external" .Values.database.external.existingSecret -}}
{{- else -}}
{{- printf "%s-postgresql" (include "zkgate.fullname" .) -}}
{{- end -}}
{{- end -}}

{{- define "zkgate.databaseSecretKey" -}}
{{- if eq .Values.database.mode "external" -}}{{ .Values.database.external.key }}{{- else -}}url{{- end -}}
{{- end -}}

{{- define "zkgate.signingKeySecretName" -}}
{{- default (printf "%s-signing-key" (include "zkgate.fullname" .)) .Values.signingKey.existingSecret -}}
{{- end -}}

{{- define "zkgate.tenantsSecretName" -}}
{{- default (printf "%s-tenants" (include "zkgate.fullname" .)) .Values.accessControl.existingSecret -}}
{{- end -}}

{{- define "zkgate.accessControlEnabled" -}}
{{- if or .Values.accessControl.existingSecret .Values.accessControl.tenants -}}true{{- end -}}
{{- end -}}

{{/* The artifact_store setting and its S3 companions, shared by gateways and provers. */}}
{{- define "zkgate.artifactConfig" -}}
{{- if eq .Values.artifacts.mode "s3" }}
ZKGATE_ARTIFACT_STORE: {{ printf "s3://%s/%s" (required "artifacts.s3.bucket is required when artifacts.mode is s3" .Values.artifacts.s3.bucket) .Values.artifacts.s3.prefix | trimSuffix "/" | quote }}
ZKGATE_S3_ENDPOINT_URL: {{ .Values.artifacts.s3.endpointUrl | quote }}
ZKGATE_S3_REGION: {{ .Values.artifacts.s3.region | quote }}
{{- else }}
ZKGATE_ARTIFACT_STORE: {{ printf "file://%s" (include "zkgate.paths.artifacts" .) | quote }}
{{- end }}
{{- end -}}

{{/* Settings both kinds of process read, under the code's names. */}}
{{- define "zkgate.sharedConfig" -}}
ZKGATE_DATA_DIR: {{ include "zkgate.paths.data" . | quote }}
ZKGATE_DATABASE_URL_FILE: {{ include "zkgate.paths.databaseUrl" . | quote }}
ZKGATE_LEASE_SECONDS: {{ .Values.config.lease_seconds | quote }}
ZKGATE_BATCH_WINDOW_SECONDS: {{ .Values.config.batch_window_seconds | quote }}
ZKGATE_PROVER_NICE: {{ .Values.config.prover_nice | quote }}
ZKGATE_STANDBY_MEMORY_BUDGETS: {{ include "zkgate.standbyMemoryBudgets" . | quote }}
{{- if .Values.srs.file }}
ZKGATE_SRS_PATH: {{ printf "%s/%s" (include "zkgate.paths.srs" .) .Values.srs.file | quote }}
ZKGATE_SRS_SHA256: {{ required "srs.sha256 pins srs.file: set both" .Values.srs.sha256 | quote }}
{{- end }}
ZKGATE_KEY_CACHE_BYTES: {{ .Values.config.key_cache_bytes | int64 | quote }}
{{ include "zkgate.artifactConfig" . }}
# ezkl keeps SRS files and a table cache under $EZKL_REPO_PATH (default ~/.ezkl, read-only here).
EZKL_REPO_PATH: {{ printf "%s/ezkl" (include "zkgate.paths.data" .) | quote }}
{{- end -}}

{{/* Volumes every zkgate pod mounts: (dict "root" $ "sizeLimit" "1Gi"). */}}
{{- define "zkgate.commonVolumes" -}}
- name: data
  emptyDir:
    sizeLimit: {{ .sizeLimit }}
- name: tmp
  emptyDir:
    sizeLimit: 1Gi
- name: database-url
  secret:
    secretName: {{ include "zkgate.databaseSecretName" .root }}
    defaultMode: 0440
    items:
      - key: {{ include "zkgate.databaseSecretKey" .root }}
        path: url
{{- if eq .root.Values.artifacts.mode "volume" }}
- name: artifacts
  persistentVolumeClaim:
    claimName: {{ default (printf "%s-artifacts" (include "zkgate.fullname" .root)) .root.Values.artifacts.volume.existingClaim }}
{{- end }}
{{- end -}}

{{- define "zkgate.commonVolumeMounts" -}}
- name: data
  mountPath: {{ include "zkgate.paths.data" . }}
- name: tmp
  mountPath: /tmp
- name: database-url
  mountPath: {{ include "zkgate.paths.databaseUrl" . | dir }}
  readOnly: true
{{- if eq .Values.artifacts.mode "volume" }}
- name: artifacts
  mountPath: {{ include "zkgate.paths.artifacts" . }}
{{- end }}
{{- end -}}

{{/* S3 credentials, when a Secret holds them; otherwise boto3 finds a pod role. */}}
{{- define "zkgate.s3EnvFrom" -}}
{{- if and (eq .Values.artifacts.mode "s3") .Values.artifacts.s3.credentialsSecret }}
- secretRef:
    name: {{ .Values.artifacts.s3.credentialsSecret }}
{{- end }}
{{- end -}}

{{/* base with over laid on it: maps merge key by key, and any other value of over replaces
     base's, zero values included (sprig's merge would keep base's minReplicas over a pool's 0). */}}
{{- define "zkgate.overlay" -}}
{{- $merged := deepCopy .base -}}
{{- range $key, $value := .over -}}
{{- $current := get $merged $key -}}
{{- if and (kindIs "map" $value) (kindIs "map" $current) -}}
{{- $_ := set $merged $key (include "zkgate.overlay" (dict "base" $current "over" $value) | fromYaml) -}}
{{- else -}}
{{- $_ := set $merged $key $value -}}
{{- end -}}
{{- end -}}
{{- toYaml $merged -}}
{{- end -}}

{{/* The prover pools as YAML, pool name -> settings: each pool is prover's settings with the
     pool's own laid on them. No pools: one pool named "" (the Deployment <fullname>-prover). */}}
{{- define "zkgate.proverPools" -}}
{{- $base := omit .Values.prover "pools" -}}
{{- $pools := dict -}}
{{- range $name, $over := .Values.prover.pools -}}
{{- $_ := set $pools $name (include "zkgate.overlay" (dict "base" $base "over" $over) | fromYaml) -}}
{{- end -}}
{{- if not $pools -}}
{{- $_ := set $pools "" $base -}}
{{- end -}}
{{- toYaml $pools -}}
{{- end -}}

{{/* A pool's workload name: (dict "root" $ "pool" "gpu"). */}}
{{- define "zkgate.proverName" -}}
{{- $fullname := include "zkgate.fullname" .root -}}
{{- if .pool -}}{{ printf "%s-prover-%s" $fullname .pool }}{{- else -}}{{ printf "%s-prover" $fullname }}{{- end -}}
{{- end -}}

{{/* The memory budgets of pools that may be scaled to zero, comma-separated: while such a pool
     is at zero it advertises nothing, and gateways accept the jobs only it can hold by these
     (docs/deployment.md, "Prover pools"). With one pool there is nothing to state: while it is
     at zero no prover is live, and every job is accepted. */}}
{{- define "zkgate.standbyMemoryBudgets" -}}
{{- $budgets := list -}}
{{- if gt (len .Values.prover.pools) 1 -}}
{{- range $name, $pool := include "zkgate.proverPools" . | fromYaml -}}
{{- $scaled := ne $pool.autoscaling.mode "none" -}}
{{- if eq (int (ternary $pool.autoscaling.minReplicas $pool.replicas $scaled)) 0 -}}
{{- $budgets = append $budgets (required (printf "prover.pools.%s may scale to zero: set its memoryBudget, so that gateways accept the jobs only it can hold while it is at zero" $name) $pool.memoryBudget) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- join "," $budgets -}}
{{- end -}}

{{/* The gateway's model repository settings (modelRepository in values.yaml). */}}
{{- define "zkgate.modelRepositoryConfig" -}}
{{- $m := .Values.modelRepository -}}
{{- if and $m.models (not (or $m.objectStorePrefix $m.volume)) }}
{{- fail "modelRepository.models configures folders: set modelRepository.objectStorePrefix or modelRepository.volume" }}
{{- end }}
{{- if $m.objectStorePrefix }}
ZKGATE_MODEL_REPOSITORY: {{ $m.objectStorePrefix | quote }}
{{- else if $m.volume }}
ZKGATE_MODEL_REPOSITORY: {{ include "zkgate.paths.modelRepository" . | quote }}
{{- end }}
{{- if $m.models }}
ZKGATE_MODEL_CONFIGS: {{ include "zkgate.paths.modelConfigs" . | quote }}
{{- end }}
{{- end -}}
