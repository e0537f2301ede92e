# Alarms (OCI Monitoring) to an OCI Notifications topic; enable_alarms = false
# to leave them off, alarm_email for an email subscription (confirmed from the
# email OCI sends). Each alarm's body names the log search that finds the cause
# (docs/operations.md, "Runbooks").
# Metrics and dimensions, as Oracle documents them:
# - oci_apigateway ("API Gateway Metrics",
#   https://docs.oracle.com/iaas/Content/APIGateway/Reference/apigatewaymetrics.htm):
#   HttpResponses, BackendHttpResponses; dimensions resourceId (the gateway),
#   deploymentId, route, httpStatusCode (200, 502, ...), httpStatusCategory (2xx ... 5xx).
# - oci_faas ("Function Metrics",
#   https://docs.oracle.com/iaas/Content/Functions/Reference/functionsmetrics.htm):
#   FunctionInvocationCount, FunctionExecutionDuration, FunctionResponseCount;
#   dimensions applicationId, compartmentId, resourceId (the function),
#   responseType (Success, Error or Throttled).
# The identity domain throttling our token requests has no OCI metric: its sign
# is the token_endpoint_throttled reason in the functions' log, which the gateway
# 5xx and 502 alarms below point to (docs/operations.md, "When the identity
# domain throttles").

locals {
  # Log searches (https://docs.oracle.com/iaas/Content/Logging/Reference/query_language_specification.htm):
  # "<compartment>/<log group>/<log>".
  log_path = {
    for name in ["functions-invoke", "gateway-access", "gateway-exec"] : name => try(
      "${var.compartment_ocid}/${oci_logging_log_group.oic[0].id}/${oci_logging_log.service[name].id}",
      "<compartment>/<log group>/<${name} log> (enable_logs is off)"
    )
  }
  function_ids = {
    authorizer     = oci_functions_function.authorizer.id
    token_exchange = oci_functions_function.token_exchange.id
  }
  deployment_filter = "deploymentId = \"${oci_apigateway_deployment.oic.id}\""
  alarms = var.enable_alarms ? merge({
    gateway-5xx = {
      namespace   = "oci_apigateway"
      compartment = var.compartment_ocid
      query       = "HttpResponses[5m]{${local.deployment_filter}, httpStatusCategory = \"5xx\"}.sum() > ${var.alarm_gateway_5xx_per_5m}"
      severity    = "CRITICAL"
      body        = "More than ${var.alarm_gateway_5xx_per_5m} 5xx answers in 5 minutes. Find them: search \"${local.log_path["gateway-access"]}\" | where data.status >= 500; then the functions at that time: search \"${local.log_path["functions-invoke"]}\" | where data.message = '*\"level\":\"ERROR\"*' (a token_endpoint_throttled reason: the identity domain throttles; docs/operations.md, Runbooks: gateway 5xx)."
    }
    authorizer-502 = {
      namespace   = "oci_apigateway"
      compartment = var.compartment_ocid
      query       = "HttpResponses[1m]{${local.deployment_filter}, httpStatusCode = \"502\"}.sum() > 0"
      severity    = "CRITICAL"
      body        = "The gateway answered 502: the authorizer could not decide (or the backend function failed). Find the reason: search \"${local.log_path["functions-invoke"]}\" | where data.message = '*cannot decide*' (reasons keys_unavailable, config_error, token_endpoint_throttled, ...; docs/operations.md, Runbooks: function errors), and the gateway's view: search \"${local.log_path["gateway-exec"]}\"."
    }
    }, { for name, id in local.function_ids : "${replace(name, "_", "-")}-errors" => {
      namespace   = "oci_faas"
      compartment = local.functions_compartment
      query       = "FunctionResponseCount[1m]{resourceId = \"${id}\", responseType = \"Error\"}.sum() > 0"
      severity    = "CRITICAL"
      body        = "oic-${replace(name, "_", "-")} failed (FunctionResponseCount, responseType Error). Find it: search \"${local.log_path["functions-invoke"]}\" | where data.message = '*\"level\":\"ERROR\"*' (docs/operations.md, Runbooks: function errors)."
      } }, { for name, id in local.function_ids : "${replace(name, "_", "-")}-throttled" => {
      namespace   = "oci_faas"
      compartment = local.functions_compartment
      query       = "FunctionResponseCount[1m]{resourceId = \"${id}\", responseType = \"Throttled\"}.sum() > 0"
      severity    = "WARNING"
      body        = "oic-${replace(name, "_", "-")} was throttled (429: the tenancy's Functions concurrency). The gateway answers 502 meanwhile: search \"${local.log_path["gateway-access"]}\" | where data.status = 502. Fix: provisioned concurrency, a Functions limit increase, the deployment's rate_limit_per_client_ip (docs/operations.md, At fleet scale)."
  } }) : {}
}

resource "oci_ons_notification_topic" "alarms" {
  count          = var.enable_alarms ? 1 : 0
  compartment_id = var.compartment_ocid
  name           = "${var.name_prefix}-alarms"
  description    = "The ${var.name_prefix} gateway's alarms"
}

resource "oci_ons_subscription" "email" {
  count          = var.enable_alarms && var.alarm_email != "" ? 1 : 0
  compartment_id = var.compartment_ocid
  topic_id       = oci_ons_notification_topic.alarms[0].id
  protocol       = "EMAIL"
  endpoint       = var.alarm_email
}

resource "oci_monitoring_alarm" "chain" {
  for_each              = local.alarms
  compartment_id        = var.compartment_ocid
  display_name          = "${var.name_prefix}-${each.key}"
  is_enabled            = true
  namespace             = each.value.namespace
  metric_compartment_id = each.value.compartment
  query                 = each.value.query
  severity              = each.value.severity
  body                  = each.value.body
  pending_duration      = "PT1M"
  message_format        = "ONS_OPTIMIZED"
  destinations          = [oci_ons_notification_topic.alarms[0].id]
}
