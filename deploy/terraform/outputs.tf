output "endpoint" {
  description = "The deployment's https:// base URL (custom_domain when set): call HelloWorld at <endpoint>/HELLO_WORLD/1.0/<path>."
  value       = "https://${local.endpoint_host}${var.path_prefix}"
}

output "dns_record" {
  description = "With custom_domain: the A record to create at your DNS provider (custom_domain to the gateway's public IP); null without it (the service records its generated name itself)."
  value = local.custom_domain ? {
    name  = var.custom_domain
    type  = "A"
    value = oci_apigateway_gateway.oic.ip_addresses[0].ip_address
  } : null
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

output "vendor_credentials" {
  description = "With create_identity_apps: each vendor's client_id, client_secret, token_url and scope (sensitive): terraform output -json vendor_credentials | jq '.\"<vendor>\"', handed over on a secure channel only (docs/setup-oci.md)."
  sensitive   = true
  value = { for name, app in oci_identity_domains_app.vendor : name => {
    client_id     = app.name
    client_secret = app.client_secret
    token_url     = local.token_url
    scope         = join(" ", [for s in local.gateway_scopes : "${local.gateway_audience}${s}"])
  } }
}

output "identity_apps" {
  description = "With create_identity_apps: the ids of the gateway's resource-server app and the functions' OIC app, and the OIC app's client id (null otherwise)."
  value = var.create_identity_apps ? {
    gateway_app_id = oci_identity_domains_app.gateway[0].id
    oic_app_id     = oci_identity_domains_app.oic_client[0].id
    oic_client_id  = oci_identity_domains_app.oic_client[0].name
  } : null
}
