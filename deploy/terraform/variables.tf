variable "oci_auth" {
  description = "How the oci provider authenticates: APIKey, SecurityToken, InstancePrincipal or ResourcePrincipal."
  type        = string
  default     = "APIKey"
}

variable "oci_config_profile" {
  description = "The ~/.oci/config profile (APIKey and SecurityToken)."
  type        = string
  default     = "DEFAULT"
}

variable "region" {
  description = "OCI region, e.g. us-ashburn-1."
  type        = string
}

variable "tenancy_ocid" {
  description = "Tenancy OCID (dynamic groups live in the tenancy)."
  type        = string
}

variable "compartment_ocid" {
  description = "Compartment for the gateway and the secrets (and the functions, unless functions_compartment_ocid is set)."
  type        = string
}

variable "name_prefix" {
  description = "Prefix of every name this creates (compartment, application, gateway, deployment, dynamic group, policies, secret, log group, topic, alarms), so that two environments coexist in one tenancy, e.g. oic-gw-test and oic-gw-prod."
  type        = string
  default     = "oic-gateway"
  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9-]{0,39}$", var.name_prefix))
    error_message = "name_prefix: a letter, then letters, digits or hyphens, at most 40 characters."
  }
}

variable "functions_compartment_ocid" {
  description = "Optional existing compartment that holds only these two functions: API Gateway's invoke permission is then limited to them. Unset: one is created (create_functions_compartment)."
  type        = string
  default     = ""
}

variable "create_functions_compartment" {
  description = "With functions_compartment_ocid unset: create <name_prefix>-functions under compartment_ocid for the two functions (true, the default), so the gateway may invoke them only; false puts them in compartment_ocid, where the gateway may invoke every function."
  type        = bool
  default     = true
}

variable "gateway_invoke_resource_type" {
  description = "What API Gateway may use in the functions' compartment: functions-family (Oracle's documented form, the default) or fn-invocation (InvokeFunction only; that it is enough for deployment create is unverified, docs/setup-oci.md)."
  type        = string
  default     = "functions-family"
  validation {
    condition     = contains(["functions-family", "fn-invocation"], var.gateway_invoke_resource_type)
    error_message = "gateway_invoke_resource_type must be functions-family or fn-invocation."
  }
}

variable "subnet_ocid" {
  description = "An existing subnet for both the gateway and the functions application (it must be public for a PUBLIC gateway and reach the identity domain and OIC). Leave it and the two below empty to have Terraform create the network (network.tf)."
  type        = string
  default     = ""
}

variable "gateway_subnet_ocid" {
  description = "An existing public subnet for the gateway (with functions_subnet_ocid; instead of subnet_ocid)."
  type        = string
  default     = ""
}

variable "functions_subnet_ocid" {
  description = "An existing private subnet for the functions, with a route to the identity domain and OIC (a NAT gateway) and to Vault and the container registry (a service gateway)."
  type        = string
  default     = ""
  validation {
    condition     = (var.gateway_subnet_ocid == "") == (var.functions_subnet_ocid == "") && !(var.subnet_ocid != "" && var.functions_subnet_ocid != "")
    error_message = "Give subnet_ocid alone, or gateway_subnet_ocid and functions_subnet_ocid together, or none of them (Terraform then creates the network)."
  }
}

variable "vcn_cidr" {
  description = "The created VCN's CIDR (no subnet given): the gateway's subnet is its x.x.1.0/24, the functions' its x.x.2.0/24 (for a /16)."
  type        = string
  default     = "10.20.0.0/16"
}

variable "gateway_ingress_cidr" {
  description = "Who may reach the gateway on 443 in the created network: 0.0.0.0/0 (the default, a public API), or the vendors' egress range."
  type        = string
  default     = "0.0.0.0/0"
}

variable "topology" {
  description = "authorizer-context (the authorizer returns the OIC token), function-backend (the token-exchange function calls OIC), access-policy (authorizer-context with per-integration rules), or usage-plans (function-backend with per-vendor quotas)."
  type        = string
  default     = "authorizer-context"
  validation {
    condition     = contains(["authorizer-context", "function-backend", "access-policy", "usage-plans"], var.topology)
    error_message = "topology must be authorizer-context, function-backend, access-policy or usage-plans."
  }
}

variable "specification_dir" {
  description = "Where the deployment specifications are (default: deploy/). For another list of integrations: python -m ops.routes --integrations <list> --out <dir>, then set this and integrations_file."
  type        = string
  default     = ""
}

variable "integrations_file" {
  description = "The list of integrations the authorizer-context and access-policy routes were generated from (default: deploy/integrations.json); given to the authorizer as GATEWAY_INTEGRATIONS."
  type        = string
  default     = ""
}

variable "access_policy" {
  description = "ACCESS_POLICY JSON (rules by path, scopes and client ids), for rules vendors cannot say (scopes, issuers, sub-paths); empty: the rules vendors build (vendors.tf), if any."
  type        = string
  default     = ""
  validation {
    condition     = var.topology != "access-policy" || can(jsondecode(var.access_policy).rules) || anytrue([for name, vendor in var.vendors : length(vendor.integrations) > 0])
    error_message = "topology = \"access-policy\" needs access rules: the vendors' integrations, or access_policy, the ACCESS_POLICY JSON, {\"rules\": [...]} (README: Per-integration access rules)."
  }
  validation {
    condition     = var.access_policy == "" || alltrue([for name, vendor in var.vendors : length(vendor.integrations) == 0])
    error_message = "access_policy: with it set, the vendors' integrations would be ignored; give the rules in one place (vendors, or access_policy)."
  }
}

variable "ocir_repository" {
  description = "Where Terraform pushes the images it builds (deploy/build-images.sh), e.g. iad.ocir.io/<namespace>/oic-gateway. Leave empty to give authorizer_image and token_exchange_image instead."
  type        = string
  default     = ""
}

variable "authorizer_image" {
  description = "A pre-built image of the authorizer function; used instead of building one when ocir_repository is empty."
  type        = string
  default     = ""
  validation {
    condition     = var.ocir_repository != "" || var.authorizer_image != ""
    error_message = "Set ocir_repository (Terraform builds and pushes the images), or give authorizer_image."
  }
}

variable "token_exchange_image" {
  description = "A pre-built image of the token-exchange function; used instead of building one when ocir_repository is empty."
  type        = string
  default     = ""
  validation {
    condition     = var.ocir_repository != "" || var.token_exchange_image != ""
    error_message = "Set ocir_repository (Terraform builds and pushes the images), or give token_exchange_image."
  }
}

variable "idcs_domain_url" {
  description = "Identity domain URL, https://idcs-<id>.identity.oraclecloud.com"
  type        = string
}

variable "token_audiences" {
  description = "Primary audience(s) of the API Gateway resource app (comma-separated)."
  type        = string
}

variable "required_scopes" {
  description = "Scope(s) a caller's token must carry (space-separated)."
  type        = string
  default     = "oic-invoke"
}

variable "oic_host" {
  description = "OIC runtime host, without scheme, e.g. myinstance-ns-ia.integration.ocp.oraclecloud.com"
  type        = string
}

variable "create_identity_apps" {
  description = "Create the identity-domain apps (identity.tf): the gateway's resource server (audience: the first of token_audiences; scopes: required_scopes), a client app per vendor, the functions' OIC app and its grant of OIC's ServiceInvoker role (needs oic_instance_app_id). false (the default): make them in the console (docs/setup-oci.md step 1) and give oic_client_id, oic_client_secret and each vendor's client_ids."
  type        = bool
  default     = false
}

variable "oic_instance_app_id" {
  description = "With create_identity_apps: the id of the OIC instance's app in the identity domain (Oracle Cloud Services, the instance's app), whose ServiceInvoker role the functions' OIC app is granted."
  type        = string
  default     = ""
  validation {
    condition     = !var.create_identity_apps || var.oic_instance_app_id != ""
    error_message = "create_identity_apps = true needs oic_instance_app_id: the OIC instance's app in the identity domain (Oracle Cloud Services)."
  }
}

variable "oic_client_id" {
  description = "Client id of the OIC confidential app (without create_identity_apps, which creates it)."
  type        = string
  default     = ""
  validation {
    condition     = var.create_identity_apps || var.oic_client_id != ""
    error_message = "Give oic_client_id (the OIC confidential app's client id), or set create_identity_apps = true."
  }
}

variable "oic_client_secret" {
  description = "Its client secret (without create_identity_apps); stored in OCI Vault, never in function configuration."
  type        = string
  sensitive   = true
  default     = ""
  validation {
    condition     = var.create_identity_apps || var.oic_client_secret != ""
    error_message = "Give oic_client_secret (the OIC confidential app's secret), or set create_identity_apps = true."
  }
}

variable "oic_scope" {
  description = "IDCS-form OIC scope, https://<oic-primary-audience>urn:opc:resource:consumer::all, the primary audience being the OIC instance's (identity domain: Oracle Cloud Services, the instance's app, OAuth configuration, Resources), often a GUID-style host, not oic_host"
  type        = string
}

variable "vault_ocid" {
  description = "OCI Vault that holds the secret."
  type        = string
}

variable "vault_key_ocid" {
  description = "Master encryption key for the secret."
  type        = string
}

variable "path_prefix" {
  description = "Deployment path prefix."
  type        = string
  default     = "/oic"
}

variable "usage_plans" {
  description = "usage-plans topology: tier name -> requests per second, and an optional quota per quota_unit (MINUTE, HOUR, DAY, WEEK or MONTH)."
  type = map(object({
    requests_per_second = number
    quota               = optional(number)
    quota_unit          = optional(string, "DAY")
  }))
  default = {}
}

variable "subscribers" {
  description = "Superseded by vendors (kept for existing configurations): usage-plans topology, subscriber name -> its client ids in the identity domain (the verified client_id is the client token, at most 5 per subscriber, as OCI allows) and its tier. Merged with the subscribers vendors make; a name may not be in both."
  type = map(object({
    client_ids = list(string)
    usage_plan = string
  }))
  default = {}
  validation {
    condition     = alltrue([for name, subscriber in var.subscribers : length(subscriber.client_ids) <= 5])
    error_message = "A subscriber holds at most 5 clients (API Gateway usage plans); split the vendor's client ids over several subscribers."
  }
}

variable "vendors" {
  description = "Vendor name -> what it is, one entry each (vendors.tf): its client ids in the identity domain (client_ids; with create_identity_apps, a client app is created for it as well), its usage-plans tier (usage_plan, a key of usage_plans), the integrations it may call (integrations: INTEGRATION/VERSION or project/PROJECT/INTEGRATION/VERSION, each in the integrations list) and, optionally, only some methods of one (methods, function-backend and usage-plans topologies). From it Terraform builds the usage-plan subscribers and the ACCESS_POLICY rules."
  type = map(object({
    client_ids   = optional(list(string), [])
    usage_plan   = optional(string)
    integrations = optional(list(string), [])
    methods      = optional(map(list(string)), {})
  }))
  default = {}
  validation {
    condition     = alltrue([for name, vendor in var.vendors : can(regex("^[A-Za-z][A-Za-z0-9_-]{0,39}$", name))])
    error_message = "vendors: each name is a letter, then letters, digits, '_' or '-', at most 40 characters (it names the vendor's subscriber and client app)."
  }
  validation {
    condition     = alltrue([for name, vendor in var.vendors : length(vendor.client_ids) + (var.create_identity_apps ? 1 : 0) <= 5])
    error_message = "vendors: a vendor holds at most 5 clients (an API Gateway subscriber's limit), the client app create_identity_apps makes included."
  }
  validation {
    condition     = alltrue([for name, vendor in var.vendors : length(vendor.client_ids) > 0 || var.create_identity_apps])
    error_message = "vendors: give each vendor its client_ids, or set create_identity_apps = true to create its client app."
  }
  validation {
    condition     = alltrue(flatten([for name, vendor in var.vendors : [for i in vendor.integrations : contains(keys(local.integration_methods), i)]]))
    error_message = "vendors: an integration is not in the integrations list (deploy/integrations.json or integrations_file); name it INTEGRATION/VERSION, or project/PROJECT/INTEGRATION/VERSION for one inside a project."
  }
  validation {
    condition = alltrue(flatten([for name, vendor in var.vendors : [for i, methods in vendor.methods :
    contains(vendor.integrations, i) && length(methods) > 0 && length(setsubtract([for m in methods : upper(m)], lookup(local.integration_methods, i, []))) == 0]]))
    error_message = "vendors: methods names an integration of the vendor's integrations, with some of the methods the list gives that integration."
  }
  validation {
    condition     = contains(["function-backend", "usage-plans"], var.topology) || alltrue([for name, vendor in var.vendors : length(vendor.methods) == 0])
    error_message = "vendors: methods needs the function-backend or usage-plans topology; per integration, the authorizer can only grant a route's every method (a rule for some refuses the integration to everyone: docs/security.md)."
  }
  validation {
    condition     = alltrue([for name, vendor in var.vendors : vendor.usage_plan == null || contains(keys(var.usage_plans), coalesce(vendor.usage_plan, "-"))])
    error_message = "vendors: usage_plan names a key of usage_plans."
  }
  validation {
    condition     = var.topology != "usage-plans" || alltrue([for name, vendor in var.vendors : vendor.usage_plan != null || contains(keys(var.subscribers), name)])
    error_message = "vendors: the usage-plans topology refuses a client no subscriber names: give each vendor its usage_plan."
  }
  validation {
    condition     = length(setintersection(keys(var.subscribers), [for name, vendor in var.vendors : name if vendor.usage_plan != null])) == 0
    error_message = "vendors: a vendor with a usage_plan is also in subscribers; keep it in one of them."
  }
}

variable "shared_cache_url" {
  description = "Optional fleet-wide token cache: rediss://<OCI Cache primary endpoint FQDN>:6379 (non-sharded cluster reachable from the functions' subnet). Empty: none."
  type        = string
  default     = ""
}

variable "shared_cache_key_ocid" {
  description = "Vault secret OCID holding base64 of 32 random bytes (openssl rand -base64 32); required with shared_cache_url (the functions name SHARED_CACHE_KEY if it is missing)."
  type        = string
  default     = ""
}

# Provisioned concurrency (docs/setup-oci.md, "Provisioned concurrency"). Oracle's "Reducing Initial Latency Using
# Provisioned Concurrency" page: the minimum PCU count, and the increment above it, is 40 at 128 MB, 20 at 256 MB
# and 10 at 512 MB and above. 0 leaves it off (strategy NONE).
variable "authorizer_memory_in_mbs" {
  description = "Memory of oic-authorizer in MB (128, 256, 512, 1024, 2048 or 3072); it sets the provisioned concurrency minimum."
  type        = number
  default     = 256
  validation {
    condition     = contains([128, 256, 512, 1024, 2048, 3072], var.authorizer_memory_in_mbs)
    error_message = "authorizer_memory_in_mbs must be 128, 256, 512, 1024, 2048 or 3072."
  }
}

variable "exchange_memory_in_mbs" {
  description = "Memory of oic-token-exchange in MB (128, 256, 512, 1024, 2048 or 3072); it sets the provisioned concurrency minimum."
  type        = number
  default     = 512
  validation {
    condition     = contains([128, 256, 512, 1024, 2048, 3072], var.exchange_memory_in_mbs)
    error_message = "exchange_memory_in_mbs must be 128, 256, 512, 1024, 2048 or 3072."
  }
}

variable "authorizer_provisioned_concurrency" {
  description = "Provisioned concurrency units (PCUs) kept warm for oic-authorizer; 0 = off. Billed while enabled, used or not: for a steady production route, not a trial."
  type        = number
  default     = 0
  validation {
    condition     = var.authorizer_provisioned_concurrency >= 0 && var.authorizer_provisioned_concurrency % (var.authorizer_memory_in_mbs < 256 ? 40 : var.authorizer_memory_in_mbs < 512 ? 20 : 10) == 0
    error_message = "authorizer_provisioned_concurrency must be 0 (off) or a multiple of the minimum for authorizer_memory_in_mbs: 40 at 128 MB, 20 at 256 MB, 10 at 512 MB and above."
  }
}

variable "exchange_provisioned_concurrency" {
  description = "Provisioned concurrency units (PCUs) kept warm for oic-token-exchange; 0 = off. Billed while enabled, used or not."
  type        = number
  default     = 0
  validation {
    condition     = var.exchange_provisioned_concurrency >= 0 && var.exchange_provisioned_concurrency % (var.exchange_memory_in_mbs < 256 ? 40 : var.exchange_memory_in_mbs < 512 ? 20 : 10) == 0
    error_message = "exchange_provisioned_concurrency must be 0 (off) or a multiple of the minimum for exchange_memory_in_mbs: 40 at 128 MB, 20 at 256 MB, 10 at 512 MB and above."
  }
}

variable "enable_logs" {
  description = "Create the log group and its logs (logs.tf): the functions application's invoke log, the deployment's access and execution logs. false: none (the functions' output and the gateway's decisions then reach nobody)."
  type        = bool
  default     = true
}

variable "execution_log_level" {
  description = "The deployment's execution log level: INFO (a summary of every processing stage), WARN (transient errors) or ERROR (persistent errors only)."
  type        = string
  default     = "WARN"
  validation {
    condition     = contains(["INFO", "WARN", "ERROR"], var.execution_log_level)
    error_message = "execution_log_level must be INFO, WARN or ERROR."
  }
}

variable "log_retention_days" {
  description = "How long OCI Logging keeps the logs, in days: 30, 60, 90, 120, 150 or 180 (the provider's retention_duration, in 30-day increments)."
  type        = number
  default     = 30
  validation {
    condition     = contains([30, 60, 90, 120, 150, 180], var.log_retention_days)
    error_message = "log_retention_days must be 30, 60, 90, 120, 150 or 180."
  }
}

variable "enable_alarms" {
  description = "Create the alarms (alarms.tf) and their notification topic <name_prefix>-alarms: gateway 5xx, authorizer 502, each function's errors and throttles. false: none."
  type        = bool
  default     = true
}

variable "alarm_email" {
  description = "Optional email address subscribed to the alarms' topic (OCI sends a confirmation link first). Empty: no subscription; subscribe PagerDuty, Slack or others to the topic yourself."
  type        = string
  default     = ""
}

variable "alarm_gateway_5xx_per_5m" {
  description = "The gateway 5xx alarm fires above this many 5xx answers in 5 minutes."
  type        = number
  default     = 10
}

variable "rate_limit_per_client_ip" {
  description = "The deployment's rateLimiting: requests per second per client IP, before the authorizer runs (OCI answers 429 above it). null: the specification's own (100 in every deploy/apigw-*.json); 0: none."
  type        = number
  default     = null
  validation {
    condition     = var.rate_limit_per_client_ip == null || try(var.rate_limit_per_client_ip >= 0, false)
    error_message = "rate_limit_per_client_ip must be null (the specification's), 0 (off) or a positive number of requests per second."
  }
}

variable "custom_domain" {
  description = "Optional: the gateway's own domain name, e.g. api.example.com (domain.tf). Needs certificate_ocid or certificate_files for that name; then create the A record of the dns_record output at your DNS provider. Empty (the default): the service's default certificate and generated name (OC1 realm only)."
  type        = string
  default     = ""
  validation {
    condition     = var.custom_domain == "" || can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.custom_domain))
    error_message = "custom_domain: a lower-case DNS name such as api.example.com (no scheme, port or path)."
  }
}

variable "certificate_ocid" {
  description = "With custom_domain: an existing certificate for it, an API Gateway certificate resource or a Certificates service certificate (instead of certificate_files)."
  type        = string
  default     = ""
  validation {
    condition     = var.certificate_ocid == "" || can(regex("^ocid1\\.(apigatewaycertificate|certificate)\\.[a-z0-9-]+\\.[a-z0-9-]*\\.[a-z0-9]+$", var.certificate_ocid))
    error_message = "certificate_ocid: the OCID of an API Gateway certificate (ocid1.apigatewaycertificate...) or a Certificates service certificate (ocid1.certificate...)."
  }
  validation {
    condition = (var.custom_domain == "") == (var.certificate_ocid == "" && var.certificate_files == null) && !(
    var.certificate_ocid != "" && var.certificate_files != null)
    error_message = "custom_domain needs exactly one of certificate_ocid and certificate_files, and either of them needs custom_domain."
  }
}

variable "certificate_files" {
  description = "With custom_domain: paths of PEM files on this machine, uploaded as an API Gateway certificate: certificate (for custom_domain), private_key (unencrypted), intermediates (the chain, optional)."
  type = object({
    certificate   = string
    private_key   = string
    intermediates = optional(string, "")
  })
  default = null
}
