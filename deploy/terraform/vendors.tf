# Vendors as data (var.vendors): one entry per vendor makes its usage-plan subscriber (main.tf) and its
# access rules, the ACCESS_POLICY both functions read (oic_gateway/access/policy.py's shape). These locals
# read only var.vendors, the integrations list and the created apps' client ids, so that
# tests/unit/test_deploy.py evaluates them with `terraform console`, without the provider.

locals {
  # Each listed integration by the name vendors use, its route's path without "/" and "/{rest*}":
  # INTEGRATION/VERSION, or project/PROJECT/INTEGRATION/VERSION (the synthetic scope's form too).
  integration_keys = [for i in local.integrations.integrations : "${try("project/${i.project}/", "")}${i.integration}/${i.version}"]
  integration_methods = { for i in local.integrations.integrations :
  "${try("project/${i.project}/", "")}${i.integration}/${i.version}" => [for m in i.methods : upper(m)] }

  # A vendor's clients: the ids given, and its created client app's (identity.tf), if any.
  vendor_client_ids = { for name, vendor in var.vendors :
  name => distinct(concat(vendor.client_ids, try([local.created_vendor_client_ids[name]], []))) }

  # Per integration: the vendors that may call every method, and the methods the others named.
  vendor_grants = { for key in local.integration_keys : key => {
    any = [for name, vendor in var.vendors : name if contains(vendor.integrations, key) && !contains(keys(vendor.methods), key)]
    methods = { for m in local.integration_methods[key] : m => [for name, vendor in var.vendors : name
    if contains([for x in lookup(vendor.methods, key, []) : upper(x)], m)] }
  } }

  # The rules, in the list's order. The first rule that matches a path and method decides, so an integration
  # some vendor may call with some methods only gets a rule per such method first (every vendor that may use
  # it), then one for the vendors that may use any method; a call no rule matches is refused. No rule is
  # written without client ids (one would let every valid token through).
  vendor_rules = flatten([for key in local.integration_keys : concat(
    [for m in local.integration_methods[key] : {
      name       = "${replace(key, "/", "-")}-${m}"
      path       = "/${key}/*"
      methods    = [m]
      client_ids = distinct(flatten([for name in concat(local.vendor_grants[key].any, local.vendor_grants[key].methods[m]) : local.vendor_client_ids[name]]))
    } if length(local.vendor_grants[key].methods[m]) > 0],
    [for everyone in [local.vendor_grants[key].any] : {
      name       = replace(key, "/", "-")
      path       = "/${key}/*"
      client_ids = distinct(flatten([for name in everyone : local.vendor_client_ids[name]]))
    } if length(everyone) > 0],
  )])

  # ACCESS_POLICY: access_policy as given, else the vendors' rules, else none.
  access_policy = var.access_policy != "" ? var.access_policy : length(local.vendor_rules) > 0 ? jsonencode({ rules = local.vendor_rules }) : ""

  # The usage-plan subscribers: those of var.subscribers, and one per vendor with a usage_plan.
  subscribers = merge(var.subscribers, { for name, vendor in var.vendors : name => {
    client_ids = local.vendor_client_ids[name]
    usage_plan = vendor.usage_plan
  } if vendor.usage_plan != null })
}
