# Optional: the gateway under your own domain name, with your own TLS certificate (Oracle, "Setting Up Custom
# Domains and TLS Certificates", https://docs.oracle.com/iaas/Content/APIGateway/Tasks/apigatewaysettingupcustomdomainscerts.htm).
# Without it (custom_domain = ""), the gateway gets the default certificate the service obtains (OC1 realm only)
# and a generated name, <random>.apigateway.<region>.oci.customer-oci.com, which the service records in DNS.
# With it, the certificate is either one you already hold in OCI (certificate_ocid: an API Gateway certificate
# resource, or a Certificates service certificate) or one Terraform uploads from PEM files (certificate_files:
# an oci_apigateway_certificate). Recording custom_domain's A record at your DNS provider is then yours: the
# dns_record output says what to record.
#
# Turning custom_domain off again: the gateway's certificate_id is Optional and Computed in the provider, so a
# null leaves the custom certificate on the gateway while count = 0 deletes it. Apply with
# -replace=oci_apigateway_gateway.oic (a new gateway, a new generated name; docs/setup-oci.md, B).
locals {
  custom_domain      = var.custom_domain != ""
  create_certificate = local.custom_domain && var.certificate_files != null
  gateway_certificate = !local.custom_domain ? null : (
    local.create_certificate ? oci_apigateway_certificate.custom[0].id : var.certificate_ocid
  )
  endpoint_host = local.custom_domain ? var.custom_domain : oci_apigateway_gateway.oic.hostname
}

resource "oci_apigateway_certificate" "custom" {
  count          = local.create_certificate ? 1 : 0
  compartment_id = var.compartment_ocid
  display_name   = "${var.name_prefix}-${var.custom_domain}"
  # The PEM files stay on the machine that runs Terraform; the private key reaches the state (sensitive) and OCI.
  certificate               = file(var.certificate_files.certificate)
  private_key               = file(var.certificate_files.private_key)
  intermediate_certificates = var.certificate_files.intermediates == "" ? null : file(var.certificate_files.intermediates)

  lifecycle {
    # Every PEM attribute is ForceNew (provider v8.28.0, apigateway_certificate_resource.go): a renewal replaces
    # the resource. Create the new one and move the gateway to it before the old one, still in use, is deleted.
    create_before_destroy = true
    postcondition {
      condition = anytrue([for name in self.subject_names : name == var.custom_domain || (
      startswith(name, "*.") && endswith(var.custom_domain, substr(name, 1, -1)) && length(split(".", var.custom_domain)) == length(split(".", name)))])
      error_message = "The certificate in certificate_files does not name custom_domain (its subject names: see the API Gateway certificate in the console)."
    }
  }
}
