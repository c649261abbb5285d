{{/* Rules shared by the NetworkPolicies. */}}

{{- define "chattensor.np.natsEgress" -}}
{{- if .Values.nats.enabled }}
- to:
    - podSelector:
        matchLabels:
          {{- include "chattensor.selectorLabels" (dict "root" . "component" "nats") | nindent 10 }}
  ports:
    - port: 4222
      protocol: TCP
{{- else }}
# External NATS: its address is not known to the chart, only its port.
- ports:
    - port: 4222
      protocol: TCP
{{- end }}
{{- end -}}

{{- define "chattensor.np.redisEgress" -}}
{{- if .Values.redis.enabled }}
- to:
    - podSelector:
        matchLabels:
          {{- include "chattensor.selectorLabels" (dict "root" . "component" "redis") | nindent 10 }}
  ports:
    - port: 6379
      protocol: TCP
    {{- if .Values.redis.sentinel.enabled }}
    - port: 26379
      protocol: TCP
    {{- end }}
{{- else }}
- ports:
    - port: 6379
      protocol: TCP
{{- end }}
{{- end -}}

{{- define "chattensor.np.metricsIngress" -}}
- from:
    {{- toYaml .root.Values.networkPolicy.metricsFrom | nindent 4 }}
  ports:
    - port: {{ .port }}
      protocol: TCP
{{- end -}}
