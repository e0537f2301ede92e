output "endpoint" {
  description = "The deployment's https:// base URL: call HelloWorld at <endpoint>/HELLO_WORLD/1.0/<path>."
  value       = "https://${oci_apigateway_gateway.oic.hostname}${var.path_prefix}"
}

output "gateway_ocid" {
  description = "The API gateway (oci api-gateway gateway get --gateway-id ...)."
  value       = oci_apigateway_gateway.oic.id
}

output "deployment_ocid" {
  description = "The API deployment of the chosen topology (oci api-gateway deployment get --deployment-id ...)."
  value       = oci_apigateway_deployment.oic.id
}

output "application_ocid" {
  description = "The functions application, named name_prefix (fn list functions <name_prefix>)."
  value       = oci_functions_application.oic_gateway.id
}

output "authorizer_function_ocid" {
  description = "The authorizer function oic-authorizer (the deployment's CUSTOM_AUTHENTICATION functionId)."
  value       = oci_functions_function.authorizer.id
}

output "token_exchange_function_ocid" {
  description = "The token-exchange function oic-token-exchange (the function-backend route's functionId)."
  value       = oci_functions_function.token_exchange.id
}

output "function_images" {
  description = "The images the functions run: built and pushed by Terraform, or the ones given."
  value       = local.images
}

output "log_group_ocid" {
  description = "The log group of the invoke, access and execution logs (null with enable_logs = false): Observability & Management, Logging, Search, this log group."
  value       = try(oci_logging_log_group.oic[0].id, null)
}

output "log_ocids" {
  description = "The logs by name: functions-invoke, gateway-access, gateway-exec (empty with enable_logs = false)."
  value       = { for name, log in oci_logging_log.service : name => log.id }
}

output "alarm_topic_ocid" {
  description = "The Notifications topic the alarms publish to (null with enable_alarms = false): subscribe your on-call channel to it."
  value       = try(oci_ons_notification_topic.alarms[0].id, null)
}

output "subnets" {
  description = "The subnets the gateway and the functions run in: the given ones, or those of the created VCN (network.tf; vcn is null when none was created)."
  value = {
    vcn       = try(oci_core_vcn.oic[0].id, null)
    gateway   = local.gateway_subnet
    functions = local.functions_subnet
  }
}

output "access_policy" {
  description = "The ACCESS_POLICY the functions were given (vendors' rules, or access_policy; empty: none): terraform output -raw access_policy | jq."
  value       = local.access_policy
}
