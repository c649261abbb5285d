{{/* Names ------------------------------------------------------------------ */}}

{{- define "chattensor.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "chattensor.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Name of one component's resources: (dict "root" $ "component" "gateway") */}}
{{- define "chattensor.componentName" -}}
{{- printf "%s-%s" (include "chattensor.fullname" .root | trunc 48 | trimSuffix "-") .component -}}
{{- end -}}

{{- define "chattensor.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "chattensor.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Labels ----------------------------------------------------------------- */}}

{{- define "chattensor.selectorLabels" -}}
app.kubernetes.io/name: {{ include "chattensor.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end -}}

{{- define "chattensor.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "chattensor.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: chattensor
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Images ----------------------------------------------------------------- */}}

{{/* ChatTensor image of a component: (dict "root" $ "image" .Values.gateway.image) */}}
{{- define "chattensor.image" -}}
{{- $g := .root.Values.image -}}
{{- $repo := printf "%s/%s" $g.repositoryPrefix .image.repository | trimPrefix "/" -}}
{{- if $g.registry -}}{{- $repo = printf "%s/%s" $g.registry $repo -}}{{- end -}}
{{- $tag := .image.tag | default $g.tag | default .root.Chart.AppVersion -}}
{{- printf "%s:%s" $repo $tag -}}
{{- end -}}

{{- define "chattensor.imagePullSecrets" -}}
{{- with .Values.image.pullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Shared environment ----------------------------------------------------- */}}

{{- define "chattensor.natsUrl" -}}
{{- if .Values.nats.enabled -}}
{{- printf "%s://%s:4222" (ternary "tls" "nats" .Values.tls.enabled) (include "chattensor.componentName" (dict "root" . "component" "nats")) -}}
{{- else -}}
{{- .Values.nats.external.url -}}
{{- end -}}
{{- end -}}

{{- define "chattensor.redisUrl" -}}
{{- if .Values.redis.enabled -}}
{{- printf "%s://%s:6379" (ternary "rediss" "redis" .Values.tls.enabled) (include "chattensor.componentName" (dict "root" . "component" "redis")) -}}
{{- else -}}
{{- .Values.redis.external.url -}}
{{- end -}}
{{- end -}}

{{/* Variables every service validates (baseEnvSchema) plus its ops port. */}}
{{- define "chattensor.baseEnv" -}}
- name: LOG_LEVEL
  value: {{ .root.Values.logLevel | quote }}
- name: CHAIN_MODE
  value: {{ .root.Values.chain.mode | quote }}
- name: NETUID
  value: {{ .root.Values.chain.netuid | quote }}
{{- if and (not .root.Values.nats.enabled) .root.Values.nats.external.existingSecret }}
- name: NATS_URL
  valueFrom:
    secretKeyRef:
      name: {{ .root.Values.nats.external.existingSecret }}
      key: {{ .root.Values.nats.external.existingSecretKey }}
{{- else }}
- name: NATS_URL
  value: {{ include "chattensor.natsUrl" .root | quote }}
{{- end }}
{{- include "chattensor.natsAuthEnv" .root }}
{{- if .root.Values.tls.enabled }}
# The issuer of the NATS and Redis certificates, trusted by Node.js beside its own CAs.
- name: NODE_EXTRA_CA_CERTS
  value: /etc/chattensor/tls/ca.crt
{{- end }}
- name: HTTP_HOST
  value: "0.0.0.0"
- name: HTTP_PORT
  value: {{ .port | quote }}
{{- end -}}

{{/* NATS credentials of a client (every service) or of the in-chart server. */}}
{{- define "chattensor.natsAuthEnv" -}}
{{- $a := .Values.nats.auth }}
{{- if eq $a.type "token" }}
- name: NATS_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ $a.existingSecret }}
      key: {{ $a.tokenKey }}
{{- else if eq $a.type "nkey" }}
- name: NATS_NKEY_SEED
  valueFrom:
    secretKeyRef:
      name: {{ $a.existingSecret }}
      key: {{ $a.nkeySeedKey }}
{{- end }}
{{- end -}}

{{/* REDIS_PASSWORD (and REDIS_USERNAME) from redis.auth. */}}
{{- define "chattensor.redisAuthEnv" -}}
{{- with .Values.redis.auth.existingSecret }}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $.Values.redis.auth.passwordKey }}
{{- end }}
{{- with .Values.redis.auth.username }}
- name: REDIS_USERNAME
  value: {{ . | quote }}
{{- end }}
{{- end -}}

{{- define "chattensor.redisEnv" -}}
{{- if and (not .Values.redis.enabled) .Values.redis.external.existingSecret }}
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.redis.external.existingSecret }}
      key: {{ .Values.redis.external.existingSecretKey }}
{{- else }}
- name: REDIS_URL
  value: {{ include "chattensor.redisUrl" . | quote }}
{{- end }}
{{- include "chattensor.redisAuthEnv" . }}
{{- if and .Values.redis.enabled .Values.redis.sentinel.enabled }}
{{- $name := include "chattensor.componentName" (dict "root" . "component" "redis") }}
- name: REDIS_SENTINELS
  value: {{ include "chattensor.redisSentinels" . | quote }}
- name: REDIS_SENTINEL_MASTER
  value: {{ .Values.redis.sentinel.masterName | quote }}
{{- end }}
{{- end -}}

{{/* The sentinels of the in-chart Redis, by their stable pod names. */}}
{{- define "chattensor.redisSentinels" -}}
{{- $name := include "chattensor.componentName" (dict "root" . "component" "redis") }}
{{- $list := list }}
{{- range $i := until 3 }}
{{- $list = append $list (printf "%s-%d.%s-headless.%s.svc:26379" $name $i $name $.Release.Namespace) }}
{{- end }}
{{- join "," $list }}
{{- end -}}

{{/* The component's `env` map, sorted by name so renders are stable. */}}
{{- define "chattensor.envMap" -}}
{{- range $name := keys . | sortAlpha }}
- name: {{ $name }}
  value: {{ get $ $name | toString | quote }}
{{- end }}
{{- end -}}

{{/* Hotkey ------------------------------------------------------------------
Either HOTKEY_URI from a Secret key, or a hotkey file from the Secret mounted in
the Python SDK's wallet layout, or (local mode only) a dev URI. */}}
{{- define "chattensor.hotkeyMode" -}}
{{- if .existingSecret -}}
{{- if .uriKey -}}secretUri{{- else -}}walletFile{{- end -}}
{{- else if .devUri -}}devUri{{- else -}}none{{- end -}}
{{- end -}}

{{- define "chattensor.hotkeyEnv" -}}
{{- $mode := include "chattensor.hotkeyMode" .hotkey -}}
{{- if eq $mode "secretUri" }}
- name: HOTKEY_URI
  valueFrom:
    secretKeyRef:
      name: {{ .hotkey.existingSecret }}
      key: {{ .hotkey.uriKey }}
{{- else if eq $mode "walletFile" }}
- name: WALLET_PATH
  value: /wallets
- name: WALLET_NAME
  value: {{ .hotkey.walletName | quote }}
- name: WALLET_HOTKEY
  value: {{ .hotkey.hotkeyName | quote }}
{{- else if eq $mode "devUri" }}
- name: HOTKEY_URI
  value: {{ .hotkey.devUri | quote }}
{{- end }}
{{- end -}}

{{- define "chattensor.hotkeyVolumeMount" -}}
{{- if eq (include "chattensor.hotkeyMode" .) "walletFile" }}
- name: wallet
  mountPath: /wallets
  readOnly: true
{{- end }}
{{- end -}}

{{- define "chattensor.hotkeyVolume" -}}
{{- if eq (include "chattensor.hotkeyMode" .) "walletFile" }}
- name: wallet
  secret:
    secretName: {{ .existingSecret }}
    defaultMode: 0400
    items:
      - key: {{ .fileKey }}
        path: {{ printf "%s/hotkeys/%s" .walletName .hotkeyName }}
{{- end }}
{{- end -}}

{{/* Fails the render when a component needs a hotkey and has none usable. */}}
{{- define "chattensor.validateHotkey" -}}
{{- $mode := include "chattensor.hotkeyMode" .hotkey -}}
{{- if and (eq .root.Values.chain.mode "subtensor") (eq $mode "devUri") -}}
{{- fail (printf "%s.hotkey.devUri is for local mode only: in subtensor mode give %s.hotkey.existingSecret" .component .component) -}}
{{- end -}}
{{- if eq $mode "none" -}}
{{- fail (printf "%s needs a hotkey: set %s.hotkey.existingSecret (with uriKey or fileKey), or %s.hotkey.devUri in local mode" .component .component .component) -}}
{{- end -}}
{{- end -}}

{{/* Pod plumbing ------------------------------------------------------------ */}}

{{- define "chattensor.opsProbes" -}}
livenessProbe:
  httpGet:
    path: /healthz
    port: http
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 3
readinessProbe:
  httpGet:
    path: /readyz
    port: http
  periodSeconds: 5
  timeoutSeconds: 3
  failureThreshold: 2
{{- end -}}

{{/* Endpoint removal reaches kube-proxy and load balancers a moment after
SIGTERM: waiting first keeps new requests off a pod that is shutting down. */}}
{{- define "chattensor.preStopSleep" -}}
{{- if gt (int .) 0 -}}
lifecycle:
  preStop:
    exec:
      command: ["sleep", {{ . | toString | quote }}]
{{- end }}
{{- end -}}

{{/* Spreads replicas over nodes unless the operator gave constraints. */}}
{{- define "chattensor.topologySpread" -}}
{{- if .values.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml .values.topologySpreadConstraints | nindent 2 }}
{{- else }}
topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: kubernetes.io/hostname
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "chattensor.selectorLabels" (dict "root" .root "component" .component) | nindent 8 }}
{{- end }}
{{- end -}}

{{- define "chattensor.scheduling" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Selector of the Prometheus alert queries: the release namespace unless overridden. */}}
{{- define "chattensor.ruleSelector" -}}
{{- default (printf "namespace=%q" .Release.Namespace) .Values.monitoring.prometheusRule.selector -}}
{{- end -}}

{{/*
The miner's public endpoint as validators dial it, and what the miner
registers on chain (AXON_EXTERNAL_IP / AXON_EXTERNAL_PORT) from it. YAML:
  registers: whether the miner asks for serve_axon (chain mode with an address)
  ip: the registered address ("" with hostPort: the node's address, from the pod's status;
      "" with LoadBalancer: discovered from the Service's status, see `discovers`)
  port: the registered port: the Service port (LoadBalancer), the node port
        (NodePort), the host port (hostPort), or the container port (none)
*/}}
{{- define "chattensor.minerAxonEndpoint" -}}
{{- $a := .Values.miner.axon }}
{{- $port := $a.port }}
{{- if eq $a.expose "LoadBalancer" }}{{ $port = $a.service.port }}{{ end }}
{{- if eq $a.expose "NodePort" }}{{ $port = $a.service.nodePort }}{{ end }}
{{- if eq $a.expose "hostPort" }}{{ $port = $a.hostPort }}{{ end }}
{{- $discovers := and (eq $a.expose "LoadBalancer") (not $a.externalIP) }}
{{- $registers := and (eq .Values.chain.mode "subtensor") (or $a.externalIP (eq $a.expose "hostPort") $discovers) }}
registers: {{ $registers }}
ip: {{ $a.externalIP | quote }}
port: {{ $port }}
{{- /* LoadBalancer without externalIP: the miner reads the address the cloud gave the Service. */}}
discovers: {{ and $registers $discovers }}
service: {{ printf "%s/%s-axon" .Release.Namespace (include "chattensor.componentName" (dict "root" . "component" "miner")) | quote }}
{{- end -}}

{{/* Start budget of a miner pod (init containers, image pull, then the start probe's window) plus a margin. */}}
{{- define "chattensor.minerProgressDeadline" -}}
{{- $v := .Values.miner }}
{{- add (mul $v.startupProbe.periodSeconds $v.startupProbe.failureThreshold) $v.progressDeadlineMarginSeconds }}
{{- end -}}

{{/* priorityClassName of a pod of one tier (system: chain-indexer, NATS, Redis; serving: gateway, validators, miners). */}}
{{- define "chattensor.priorityClassName" -}}
{{- $p := .root.Values.priorityClasses }}
{{- $name := get $p (printf "%sName" .tier) }}
{{- if $p.create }}{{ $name = printf "%s-%s" (include "chattensor.fullname" .root) .tier }}{{ end }}
{{- with $name }}
priorityClassName: {{ . }}
{{- end }}
{{- end -}}

{{/* The CA of tls.existingSecret, for the services (NODE_EXTRA_CA_CERTS). */}}
{{- define "chattensor.tlsVolumeMount" -}}
{{- if .Values.tls.enabled }}
- name: tls-ca
  mountPath: /etc/chattensor/tls
  readOnly: true
{{- end }}
{{- end -}}

{{- define "chattensor.tlsVolume" -}}
{{- if .Values.tls.enabled }}
- name: tls-ca
  secret:
    secretName: {{ .Values.tls.existingSecret }}
    items:
      - key: ca.crt
        path: ca.crt
{{- end }}
{{- end -}}

{{- define "chattensor.redisCliPing" -}}
{{- if .Values.tls.enabled -}}
{{- /* Inside the pod: the certificate names the Service, not localhost. */ -}}
["redis-cli", "--tls", "--insecure", "ping"]
{{- else -}}
["redis-cli", "ping"]
{{- end -}}
{{- end -}}

{{/* The model folder the miners serve (MODEL_DIR), as every pod that mounts the model volume sees it. */}}
{{- define "chattensor.modelDir" -}}
{{- $m := .Values.miner.model }}
{{- printf "%s/%s" ($m.mountPath | trimSuffix "/") $m.dir }}
{{- end -}}

{{/*
Whether pods other than the miners' (gateway replicas, across nodes) can mount
the miners' model volume read-only: an existing claim (ReadOnlyMany lets every
replica share it), or the chart's fetch volume when its access modes allow
several nodes. "true" or "".
*/}}
{{- define "chattensor.modelVolumeShared" -}}
{{- $m := .Values.miner.model }}
{{- if or (eq $m.source "existingClaim") (and (eq $m.source "fetch") (or (has "ReadWriteMany" $m.fetch.accessModes) (has "ReadOnlyMany" $m.fetch.accessModes))) -}}
true
{{- end -}}
{{- end -}}

{{/* The model volume, read-only, for pods other than the miners' (source fetch or existingClaim). */}}
{{- define "chattensor.sharedModelVolume" -}}
{{- $m := .Values.miner.model }}
- name: model
  persistentVolumeClaim:
    {{- if eq $m.source "existingClaim" }}
    claimName: {{ $m.existingClaim }}
    {{- else }}
    claimName: {{ printf "%s-models" (include "chattensor.componentName" (dict "root" . "component" "miner")) }}
    {{- end }}
    readOnly: true
{{- end -}}

{{/*
An init container that waits until the model-fetch Job has filled the model
volume (MODEL_DIR/config.json exists), so a pod that reads the model at start
does not crash-loop meanwhile. dict: root, image (an image value).
*/}}
{{- define "chattensor.waitForModel" -}}
{{- $root := .root }}
- name: wait-for-model
  image: {{ include "chattensor.image" (dict "root" $root "image" .image) | quote }}
  imagePullPolicy: {{ $root.Values.image.pullPolicy }}
  command:
    - node
    - -e
    - >-
      const f = process.env.MODEL_DIR + "/config.json";
      const t = setInterval(() => { if (require("fs").existsSync(f)) { clearInterval(t); console.log("model ready"); } }, 5000);
  env:
    - name: MODEL_DIR
      value: {{ include "chattensor.modelDir" $root | quote }}
  resources:
    requests: { cpu: 10m, memory: 32Mi }
    limits: { memory: 128Mi }
  securityContext:
    {{- toYaml $root.Values.containerSecurityContext | nindent 4 }}
  volumeMounts:
    - name: model
      mountPath: {{ $root.Values.miner.model.mountPath }}
      readOnly: true
{{- end -}}
