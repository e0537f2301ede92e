terraform {
  required_version = ">= 1.9" # validation blocks that read another variable
  required_providers {
    oci = {
      source  = "oracle/oci"
      version = ">= 6.0"
    }
  }
}

# Authentication: https://docs.oracle.com/en-us/iaas/Content/terraform/configuring.htm
# APIKey (default) reads the profile of ~/.oci/config; SecurityToken uses a
# session from `oci session authenticate`; InstancePrincipal on an OCI instance.
provider "oci" {
  region              = var.region
  auth                = var.oci_auth
  config_file_profile = var.oci_config_profile
}
