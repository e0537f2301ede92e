# Functions, the API Gateway deployment, the Vault secret and the IAM that
# lets them work together. The deployment is built from the same JSON
# specification that `oci api-gateway deployment create` takes (deploy/*.json):
# one source of truth, read with file() and jsondecode(). The authorizer-context
# and access-policy specifications are generated from deploy/integrations.json
# (`make routes`; `make test` fails while they are stale): their routes are read
# from the generated JSON, never written here, and the same list is given to the
# authorizer (GATEWAY_INTEGRATIONS), so nobody names an integration twice.

locals {
  spec_file = {
    "authorizer-context" = "apigw-authorizer-context.json"
    "function-backend"   = "apigw-function-backend.json"
    "access-policy"      = "apigw-access-policy.json"
    "usage-plans"        = "apigw-usage-plans.json"
  }[var.topology]
  # usage-plans is the function-backend topology with per-vendor quotas.
  backend_topology = contains(["function-backend", "usage-plans"], var.topology)
  spec_dir         = var.specification_dir != "" ? var.specification_dir : "${path.module}/.."
  integrations     = jsondecode(file(var.integrations_file != "" ? var.integrations_file : "${path.module}/../integrations.json"))
  # The route each listed integration must have (ops/routes.py builds the same).
  integration_routes = [for i in local.integrations.integrations :
  "${try("/project/${i.project}", "")}/${i.integration}/${i.version}/{rest*}"]
  spec = jsondecode(
    replace(replace(replace(replace(
      file("${local.spec_dir}/${local.spec_file}"),
      "<authorizer-context-function-ocid>", oci_functions_function.authorizer.id),
      "<authorizer-function-ocid>", oci_functions_function.authorizer.id),
      "<token-exchange-function-ocid>", oci_functions_function.token_exchange.id),
    "<oic-host>", var.oic_host)
  )
  authentication = local.spec.requestPolicies.authentication
  # Where the functions live. A compartment that holds only them is the
  # narrowest scope OCI policy syntax documents for "these functions" (the
  # Functions policy reference lists no target.function.* variable): given, or
  # created below (create_functions_compartment), or, both off, the gateway's.
  functions_compartment = (var.functions_compartment_ocid != "" ? var.functions_compartment_ocid
  : var.create_functions_compartment ? oci_identity_compartment.functions[0].id : var.compartment_ocid)
  # The Vault secrets the functions read: the policy names each one.
  secret_ids = compact([oci_vault_secret.oic_client_secret.id, var.shared_cache_key_ocid])

  # The verifier's keys, which both functions read alike.
  authorizer_config = {
    IDCS_DOMAIN_URL = var.idcs_domain_url
    TOKEN_AUDIENCES = var.token_audiences
    REQUIRED_SCOPES = var.required_scopes
  }
  # The access rules (vendors.tf): the backend always enforces them on the path it forwards; the authorizer only
  # where it decides per integration (GATEWAY_INTEGRATIONS). The function-backend topology's authorizer gets no
  # path, and would refuse every call under a policy.
  policy_config = local.access_policy == "" ? {} : { ACCESS_POLICY = local.access_policy }
  # The authorizer alone reads the list (the backend sees the path itself).
  routes_config = local.backend_topology ? {} : { GATEWAY_INTEGRATIONS = jsonencode(local.integrations) }
  exchange_config = merge({
    IDCS_DOMAIN_URL        = var.idcs_domain_url
    OIC_CLIENT_ID          = local.oic_client_id
    OIC_CLIENT_SECRET_OCID = oci_vault_secret.oic_client_secret.id
    OIC_SCOPE              = var.oic_scope
    # The fleet-wide token cache (OCI Cache), when one is given: README "At fleet scale".
    }, var.shared_cache_url == "" ? {} : {
    SHARED_CACHE_URL      = var.shared_cache_url
    SHARED_CACHE_KEY_OCID = var.shared_cache_key_ocid
  })
}

# A compartment of its own for the two functions, so that API Gateway's invoke
# grant covers them only (functions_compartment_ocid unset).
resource "oci_identity_compartment" "functions" {
  count          = var.functions_compartment_ocid == "" && var.create_functions_compartment ? 1 : 0
  compartment_id = var.compartment_ocid
  name           = "${var.name_prefix}-functions"
  description    = "The ${var.name_prefix} gateway's two functions only (API Gateway may invoke what is here)"
  enable_delete  = true
}

resource "oci_functions_application" "oic_gateway" {
  compartment_id = local.functions_compartment
  display_name   = var.name_prefix
  subnet_ids     = [local.functions_subnet]
  # The created network's group (network.tf); none with subnets of your own.
  network_security_group_ids = local.create_network ? [oci_core_network_security_group.chain["functions"].id] : null
}

resource "oci_functions_function" "authorizer" {
  application_id     = oci_functions_application.oic_gateway.id
  display_name       = "oic-authorizer"
  image              = local.images.authorizer
  depends_on         = [terraform_data.function_images]
  memory_in_mbs      = var.authorizer_memory_in_mbs
  timeout_in_seconds = 30
  # Provisioned concurrency (provider: provisioned_concurrency_config { strategy = CONSTANT | NONE, count },
  # internal/service/functions/functions_function_resource.go). NONE when 0, so that turning it off is applied too.
  provisioned_concurrency_config {
    strategy = var.authorizer_provisioned_concurrency > 0 ? "CONSTANT" : "NONE"
    count    = var.authorizer_provisioned_concurrency > 0 ? var.authorizer_provisioned_concurrency : null
  }
  # In the authorizer-context topology the authorizer also obtains the OIC token.
  config = local.backend_topology ? local.authorizer_config : merge(local.authorizer_config, local.policy_config, local.exchange_config, local.routes_config)
}

resource "oci_functions_function" "token_exchange" {
  application_id     = oci_functions_application.oic_gateway.id
  display_name       = "oic-token-exchange"
  image              = local.images.token_exchange
  depends_on         = [terraform_data.function_images]
  memory_in_mbs      = var.exchange_memory_in_mbs
  timeout_in_seconds = 60
  # Provisioned concurrency (provider: provisioned_concurrency_config { strategy = CONSTANT | NONE, count },
  # internal/service/functions/functions_function_resource.go). NONE when 0, so that turning it off is applied too.
  provisioned_concurrency_config {
    strategy = var.exchange_provisioned_concurrency > 0 ? "CONSTANT" : "NONE"
    count    = var.exchange_provisioned_concurrency > 0 ? var.exchange_provisioned_concurrency : null
  }
  # It verifies its caller with the authorizer's own settings, then exchanges.
  config = merge(local.authorizer_config, local.exchange_config, {
    OIC_BASE_URL        = "https://${var.oic_host}"
    GATEWAY_PATH_PREFIX = var.path_prefix
  }, local.policy_config)
}

resource "oci_vault_secret" "oic_client_secret" {
  compartment_id = var.compartment_ocid
  vault_id       = var.vault_ocid
  key_id         = var.vault_key_ocid
  secret_name    = "${var.name_prefix}-oic-client-secret"
  secret_content {
    content_type = "BASE64"
    content      = base64encode(local.oic_client_secret)
  }
}

# These two functions only: resource.id of each ("Writing Matching Rules to Define Dynamic Groups",
# https://docs.oracle.com/iaas/Content/Identity/dynamicgroups/Writing_Matching_Rules_to_Define_Dynamic_Groups.htm:
# "resource OCID (for other resources)").
resource "oci_identity_dynamic_group" "functions" {
  compartment_id = var.tenancy_ocid
  name           = "${var.name_prefix}-functions"
  description    = "The ${var.name_prefix} gateway's two functions (resource principals)"
  matching_rule  = "ANY {resource.id = '${oci_functions_function.authorizer.id}', resource.id = '${oci_functions_function.token_exchange.id}'}"
}

# Only the secrets in use, one statement each (Vault's target.secret.id variable,
# https://docs.oracle.com/iaas/Content/Identity/policyreference/keypolicyreference.htm).
resource "oci_identity_policy" "functions_read_secrets" {
  compartment_id = var.compartment_ocid
  name           = "${var.name_prefix}-functions-read-secrets"
  description    = "The ${var.name_prefix} functions read their own secrets from Vault, no others"
  statements = [for id in local.secret_ids :
    "Allow dynamic-group ${oci_identity_dynamic_group.functions.name} to read secret-bundles in compartment id ${var.compartment_ocid} where target.secret.id = '${id}'"
  ]
}

# Oracle's documented form ("Create a Policy to Give API Gateway Access to
# Functions", https://docs.oracle.com/iaas/Content/APIGateway/Tasks/apigatewaycreatingpolicies.htm):
# use functions-family, only on the functions' compartment, only for API
# gateways of the gateway's compartment. gateway_invoke_resource_type =
# "fn-invocation" narrows it to InvokeFunction (unverified: docs/setup-oci.md).
resource "oci_identity_policy" "gateway_invokes_functions" {
  compartment_id = local.functions_compartment
  name           = "${var.name_prefix}-invokes-functions"
  description    = "API gateways of the gateway compartment may invoke the functions of the functions compartment"
  statements = [
    "Allow any-user to use ${var.gateway_invoke_resource_type} in compartment id ${local.functions_compartment} where ALL {request.principal.type = 'ApiGateway', request.resource.compartment.id = '${var.compartment_ocid}'}",
  ]
}

resource "oci_apigateway_gateway" "oic" {
  compartment_id = var.compartment_ocid
  endpoint_type  = "PUBLIC"
  subnet_id      = local.gateway_subnet
  display_name   = var.name_prefix
  # Your own certificate for custom_domain (domain.tf); null: the default certificate and name.
  certificate_id = local.gateway_certificate
  # The created network's group (network.tf); none with subnets of your own.
  network_security_group_ids = local.create_network ? [oci_core_network_security_group.chain["gateway"].id] : null
}

resource "oci_apigateway_deployment" "oic" {
  compartment_id = var.compartment_ocid
  gateway_id     = oci_apigateway_gateway.oic.id
  path_prefix    = var.path_prefix
  display_name   = "${var.name_prefix}-${var.topology}"

  lifecycle {
    precondition {
      condition     = length(local.spec.routes) <= 50
      error_message = "OCI allows at most 50 routes per API deployment (https://docs.oracle.com/iaas/Content/APIGateway/Reference/apigatewaylimits.htm)."
    }
    precondition {
      condition     = local.backend_topology || join(" ", [for r in local.spec.routes : r.path]) == join(" ", local.integration_routes)
      error_message = "The specification's routes are not those of the integrations list: run python -m ops.routes (make routes) with the same list."
    }
  }

  specification {
    # The level of the execution log (logs.tf); the logs themselves are OCI Logging resources.
    logging_policies {
      access_log {
        is_enabled = var.enable_logs
      }
      execution_log {
        is_enabled = var.enable_logs
        log_level  = var.execution_log_level
      }
    }

    request_policies {
      authentication {
        type                        = local.authentication.type
        function_id                 = local.authentication.functionId
        is_anonymous_access_allowed = local.authentication.isAnonymousAccessAllowed
        parameters                  = try(local.authentication.parameters, null)
        cache_key                   = try(local.authentication.cacheKey, null)
        token_header                = try(local.authentication.tokenHeader, null)
      }
      # Per client IP, before the authorizer (a junk token costs an invocation): the specification's, or
      # rate_limit_per_client_ip; 0 leaves it out.
      dynamic "rate_limiting" {
        for_each = var.rate_limit_per_client_ip == 0 ? [] : try([local.spec.requestPolicies.rateLimiting], [])
        content {
          rate_key                    = rate_limiting.value.rateKey
          rate_in_requests_per_second = coalesce(var.rate_limit_per_client_ip, rate_limiting.value.rateInRequestsPerSecond)
        }
      }
      # The verified client id (request.auth[client_id]) names the vendor, not a caller-supplied header.
      dynamic "usage_plans" {
        for_each = try([local.spec.requestPolicies.usagePlans], [])
        content {
          token_locations = usage_plans.value.tokenLocations
        }
      }
    }

    dynamic "routes" {
      for_each = local.spec.routes
      content {
        path    = routes.value.path
        methods = routes.value.methods

        backend {
          type                       = routes.value.backend.type
          url                        = try(routes.value.backend.url, null)
          function_id                = try(routes.value.backend.functionId, null)
          connect_timeout_in_seconds = try(routes.value.backend.connectTimeoutInSeconds, null)
          read_timeout_in_seconds    = try(routes.value.backend.readTimeoutInSeconds, null)
          send_timeout_in_seconds    = try(routes.value.backend.sendTimeoutInSeconds, null)
        }

        request_policies {
          dynamic "authorization" {
            for_each = try([routes.value.requestPolicies.authorization], [])
            content {
              type          = authorization.value.type
              allowed_scope = try(authorization.value.allowedScope, null)
            }
          }
          dynamic "header_transformations" {
            for_each = try([routes.value.requestPolicies.headerTransformations], [])
            content {
              dynamic "set_headers" {
                for_each = try([header_transformations.value.setHeaders], [])
                content {
                  dynamic "items" {
                    for_each = set_headers.value.items
                    iterator = set_item
                    content {
                      name      = set_item.value.name
                      values    = set_item.value.values
                      if_exists = set_item.value.ifExists
                    }
                  }
                }
              }
              dynamic "filter_headers" {
                for_each = try([header_transformations.value.filterHeaders], [])
                iterator = request_filter
                content {
                  type = request_filter.value.type
                  dynamic "items" {
                    for_each = request_filter.value.items
                    iterator = request_filter_item
                    content {
                      name = request_filter_item.value.name
                    }
                  }
                }
              }
            }
          }
          dynamic "query_parameter_transformations" {
            for_each = try([routes.value.requestPolicies.queryParameterTransformations], [])
            content {
              dynamic "filter_query_parameters" {
                for_each = try([query_parameter_transformations.value.filterQueryParameters], [])
                iterator = query_filter
                content {
                  type = query_filter.value.type
                  dynamic "items" {
                    for_each = query_filter.value.items
                    iterator = query_filter_item
                    content {
                      name = query_filter_item.value.name
                    }
                  }
                }
              }
            }
          }
        }

        dynamic "response_policies" {
          for_each = try([routes.value.responsePolicies], [])
          content {
            dynamic "header_transformations" {
              for_each = try([response_policies.value.headerTransformations], [])
              iterator = response_headers
              content {
                dynamic "filter_headers" {
                  for_each = try([response_headers.value.filterHeaders], [])
                  iterator = response_filter
                  content {
                    type = response_filter.value.type
                    dynamic "items" {
                      for_each = response_filter.value.items
                      iterator = response_filter_item
                      content {
                        name = response_filter_item.value.name
                      }
                    }
                  }
                }
              }
            }
          }
        }
      }
    }
  }
}

# Per-vendor quotas (topology usage-plans): one usage plan per tier, one
# subscriber per vendor (local.subscribers: var.vendors with a usage_plan, and var.subscribers)
# whose client tokens are its client ids in the identity domain.
resource "oci_apigateway_usage_plan" "tier" {
  for_each       = var.topology == "usage-plans" ? var.usage_plans : {}
  compartment_id = var.compartment_ocid
  display_name   = each.key

  entitlements {
    name        = "oic-calls"
    description = "the integrations behind ${oci_apigateway_deployment.oic.display_name}"
    rate_limit {
      unit  = "SECOND"
      value = each.value.requests_per_second
    }
    dynamic "quota" {
      for_each = each.value.quota == null ? [] : [each.value]
      content {
        value               = quota.value.quota
        unit                = quota.value.quota_unit
        reset_policy        = "CALENDAR"
        operation_on_breach = "REJECT"
      }
    }
    targets {
      deployment_id = oci_apigateway_deployment.oic.id
    }
  }
}

resource "oci_apigateway_subscriber" "vendor" {
  for_each       = var.topology == "usage-plans" ? local.subscribers : {}
  compartment_id = var.compartment_ocid
  display_name   = each.key
  usage_plans    = [oci_apigateway_usage_plan.tier[each.value.usage_plan].id]

  dynamic "clients" {
    for_each = each.value.client_ids
    content {
      name  = clients.value
      token = clients.value
    }
  }
}
