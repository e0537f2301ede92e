output "endpoint" {
  description = "Call HelloWorld at <endpoint>/HELLO_WORLD/1.0/<path>"
  value       = "${oci_apigateway_gateway.oic.hostname}${var.path_prefix}"
}

output "authorizer_function_ocid" {
  value = oci_functions_function.authorizer.id
}

output "token_exchange_function_ocid" {
  value = oci_functions_function.token_exchange.id
}
