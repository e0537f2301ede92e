# Logs (OCI Logging), enable_logs = false to leave them off. Without them a
# function's output and the gateway's decisions reach nobody: the functions
# application's invoke log carries the functions' stdout/stderr (the decision
# lines of docs/operations.md, "Reading a decision line"), the deployment's
# access log one line per request (status, latency), its execution log the
# gateway's own processing (authorizer errors, back-end failures) at
# execution_log_level.
# Sources: "Details for Functions" (service functions, category invoke,
# https://docs.oracle.com/iaas/Content/Logging/Reference/details_for_functions.htm),
# "Details for API Gateway" (service apigateway, categories access and execution,
# https://docs.oracle.com/iaas/Content/Logging/Reference/details_for_api_gateway.htm),
# "Adding Logging to API Deployments" (the execution log level,
# https://docs.oracle.com/iaas/Content/APIGateway/Tasks/apigatewayaddinglogpolicies.htm).

locals {
  service_logs = var.enable_logs ? {
    functions-invoke = { service = "functions", category = "invoke", resource = oci_functions_application.oic_gateway.id }
    gateway-access   = { service = "apigateway", category = "access", resource = oci_apigateway_deployment.oic.id }
    gateway-exec     = { service = "apigateway", category = "execution", resource = oci_apigateway_deployment.oic.id }
  } : {}
}

resource "oci_logging_log_group" "oic" {
  count          = var.enable_logs ? 1 : 0
  compartment_id = var.compartment_ocid
  display_name   = "${var.name_prefix}-logs"
  description    = "The ${var.name_prefix} gateway: the functions' invoke log, the deployment's access and execution logs"
}

resource "oci_logging_log" "service" {
  for_each           = local.service_logs
  display_name       = "${var.name_prefix}-${each.key}"
  log_group_id       = oci_logging_log_group.oic[0].id
  log_type           = "SERVICE"
  is_enabled         = true
  retention_duration = var.log_retention_days

  configuration {
    compartment_id = each.value.service == "functions" ? local.functions_compartment : var.compartment_ocid
    source {
      source_type = "OCISERVICE"
      service     = each.value.service
      category    = each.value.category
      resource    = each.value.resource
    }
  }
}
