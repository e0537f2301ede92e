# The identity-domain apps, optional (create_identity_apps; default false: give the ids of apps made in the
# console, docs/setup-oci.md step 1). Attributes as oracle/terraform-provider-oci defines them
# (internal/service/identity_domains/identity_domains_app_resource.go, ..._grant_resource.go,
# ..._app_roles_data_source.go); what the identity domain does with them is unverified here
# (docs/oci-fidelity.md: identity-domain apps from Terraform).

locals {
  identity_apps = var.create_identity_apps ? 1 : 0
  # The gateway's resource server: the first audience of token_audiences, its scopes those of required_scopes.
  gateway_audience = trimspace(split(",", var.token_audiences)[0])
  gateway_scopes   = compact(split(" ", var.required_scopes))
  # A created app's client id is its name (computed by the identity domain).
  created_vendor_client_ids = { for name, app in oci_identity_domains_app.vendor : name => app.name }
  oic_client_id             = var.create_identity_apps ? oci_identity_domains_app.oic_client[0].name : var.oic_client_id
  oic_client_secret         = var.create_identity_apps ? oci_identity_domains_app.oic_client[0].client_secret : var.oic_client_secret
  token_url                 = "${trimsuffix(var.idcs_domain_url, "/")}/oauth2/v1/token"
}

# The gateway's resource server ("Configure this application as a resource server"): its audience and scope.
resource "oci_identity_domains_app" "gateway" {
  count         = local.identity_apps
  idcs_endpoint = var.idcs_domain_url
  schemas       = ["urn:ietf:params:scim:schemas:oracle:idcs:App"]
  display_name  = "${var.name_prefix}-gateway"
  description   = "The ${var.name_prefix} API gateway (resource server): vendors' tokens are for this audience"
  based_on_template {
    value = "CustomWebAppTemplateId" # a confidential application
  }
  client_type       = "confidential"
  is_oauth_resource = true
  audience          = local.gateway_audience
  active            = true
  dynamic "scopes" {
    for_each = local.gateway_scopes
    content {
      value            = scopes.value
      description      = "Call OIC integrations through the ${var.name_prefix} gateway"
      requires_consent = false
    }
  }
}

# One confidential client app per vendor: client credentials, the gateway's scopes only.
resource "oci_identity_domains_app" "vendor" {
  for_each      = var.create_identity_apps ? var.vendors : {}
  idcs_endpoint = var.idcs_domain_url
  schemas       = ["urn:ietf:params:scim:schemas:oracle:idcs:App"]
  display_name  = "${var.name_prefix}-vendor-${each.key}"
  description   = "Vendor ${each.key}: client credentials for the ${var.name_prefix} gateway"
  based_on_template {
    value = "CustomWebAppTemplateId"
  }
  client_type     = "confidential"
  is_oauth_client = true
  allowed_grants  = ["client_credentials"]
  active          = true
  dynamic "allowed_scopes" {
    for_each = local.gateway_scopes
    content {
      fqs = "${local.gateway_audience}${allowed_scopes.value}" # audience + scope value (the provider's fqs)
    }
  }
  depends_on = [oci_identity_domains_app.gateway]
}

# The functions' OIC client: client credentials with OIC's scope (oic_scope is already the fully qualified one).
resource "oci_identity_domains_app" "oic_client" {
  count         = local.identity_apps
  idcs_endpoint = var.idcs_domain_url
  schemas       = ["urn:ietf:params:scim:schemas:oracle:idcs:App"]
  display_name  = "${var.name_prefix}-oic-client"
  description   = "The ${var.name_prefix} functions' client of OIC (ServiceInvoker)"
  based_on_template {
    value = "CustomWebAppTemplateId"
  }
  client_type     = "confidential"
  is_oauth_client = true
  allowed_grants  = ["client_credentials"]
  active          = true
  allowed_scopes {
    fqs = var.oic_scope
  }
}

# OIC's ServiceInvoker role, an app role of the OIC instance's app (Oracle Cloud Services).
data "oci_identity_domains_app_roles" "service_invoker" {
  count           = local.identity_apps
  idcs_endpoint   = var.idcs_domain_url
  app_role_filter = "displayName eq \"ServiceInvoker\" and app.value eq \"${var.oic_instance_app_id}\""
}

resource "oci_identity_domains_grant" "oic_service_invoker" {
  count           = local.identity_apps
  idcs_endpoint   = var.idcs_domain_url
  schemas         = ["urn:ietf:params:scim:schemas:oracle:idcs:Grant"]
  grant_mechanism = "ADMINISTRATOR_TO_APP" # the grantee (client) app gains access to the granted (server) app
  grantee {
    type  = "App"
    value = oci_identity_domains_app.oic_client[0].id
  }
  app {
    value = var.oic_instance_app_id
  }
  entitlement {
    attribute_name  = "appRoles"
    attribute_value = data.oci_identity_domains_app_roles.service_invoker[0].app_roles[0].id
  }
  lifecycle {
    precondition {
      condition     = length(data.oci_identity_domains_app_roles.service_invoker[0].app_roles) == 1
      error_message = "oic_instance_app_id: no (or more than one) ServiceInvoker role in that app; give the id of the OIC instance's app (identity domain: Oracle Cloud Services)."
    }
  }
}
