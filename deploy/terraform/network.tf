# The network, optional: created only when no subnet is given (subnet_ocid, or
# gateway_subnet_ocid and functions_subnet_ocid, left empty). Then:
# - a VCN (vcn_cidr) with a public subnet for the gateway, routed to an
#   internet gateway, and a private subnet for the functions, routed to a NAT
#   gateway (the identity domain, OIC) and to a service gateway for all the
#   region's services in the Oracle Services Network (Vault, the container
#   registry, Logging);
# - no security-list rule at all (each subnet gets an empty list instead of the
#   VCN's default one, which opens SSH): every rule is on the two network
#   security groups, and they allow only what the chain needs:
#   gateway  in  TCP 443 from gateway_ingress_cidr (the vendors);
#   gateway  out TCP 443 anywhere (OIC in the authorizer-context topologies,
#            the Functions invoke endpoint);
#   functions out TCP 443 anywhere through the NAT gateway (the identity
#            domain, OIC) and to the Oracle Services Network through the service
#            gateway; nothing in (API Gateway invokes a function through the
#            Functions service, not over the subnet).
# Sources: "Networking Overview", "NAT Gateway", "Service Gateway", "Network
# Security Groups" (https://docs.oracle.com/iaas/Content/Network/Concepts/overview.htm),
# "API Gateway networking" and "Functions networking" requirements
# (https://docs.oracle.com/iaas/Content/APIGateway/Concepts/apigatewaynetworking.htm,
# https://docs.oracle.com/iaas/Content/Functions/Tasks/functionscreatingapps.htm).

locals {
  create_network = var.subnet_ocid == "" && var.gateway_subnet_ocid == "" && var.functions_subnet_ocid == ""
  gateway_subnet = (var.gateway_subnet_ocid != "" ? var.gateway_subnet_ocid
  : var.subnet_ocid != "" ? var.subnet_ocid : try(oci_core_subnet.gateway[0].id, ""))
  functions_subnet = (var.functions_subnet_ocid != "" ? var.functions_subnet_ocid
  : var.subnet_ocid != "" ? var.subnet_ocid : try(oci_core_subnet.functions[0].id, ""))
  # "All <region> Services In Oracle Services Network": the service gateway's one service.
  all_services = local.create_network ? [
    for service in data.oci_core_services.all[0].services : service
    if length(regexall("^All .* Services In Oracle Services Network$", service.name)) > 0
  ][0] : null
  network = local.create_network ? { gateway = 1, functions = 2 } : {}
}

data "oci_core_services" "all" {
  count = local.create_network ? 1 : 0
}

resource "oci_core_vcn" "oic" {
  count          = local.create_network ? 1 : 0
  compartment_id = var.compartment_ocid
  display_name   = var.name_prefix
  cidr_blocks    = [var.vcn_cidr]
  dns_label      = "oicgw"
}

resource "oci_core_internet_gateway" "oic" {
  count          = local.create_network ? 1 : 0
  compartment_id = var.compartment_ocid
  vcn_id         = oci_core_vcn.oic[0].id
  display_name   = "${var.name_prefix}-internet"
  enabled        = true
}

resource "oci_core_nat_gateway" "oic" {
  count          = local.create_network ? 1 : 0
  compartment_id = var.compartment_ocid
  vcn_id         = oci_core_vcn.oic[0].id
  display_name   = "${var.name_prefix}-nat"
}

resource "oci_core_service_gateway" "oic" {
  count          = local.create_network ? 1 : 0
  compartment_id = var.compartment_ocid
  vcn_id         = oci_core_vcn.oic[0].id
  display_name   = "${var.name_prefix}-services"
  services {
    service_id = local.all_services.id
  }
}

resource "oci_core_route_table" "gateway" {
  count          = local.create_network ? 1 : 0
  compartment_id = var.compartment_ocid
  vcn_id         = oci_core_vcn.oic[0].id
  display_name   = "${var.name_prefix}-gateway"
  route_rules {
    destination       = "0.0.0.0/0"
    destination_type  = "CIDR_BLOCK"
    network_entity_id = oci_core_internet_gateway.oic[0].id
  }
}

resource "oci_core_route_table" "functions" {
  count          = local.create_network ? 1 : 0
  compartment_id = var.compartment_ocid
  vcn_id         = oci_core_vcn.oic[0].id
  display_name   = "${var.name_prefix}-functions"
  route_rules {
    destination       = "0.0.0.0/0"
    destination_type  = "CIDR_BLOCK"
    network_entity_id = oci_core_nat_gateway.oic[0].id
  }
  route_rules {
    destination       = local.all_services.cidr_block
    destination_type  = "SERVICE_CIDR_BLOCK"
    network_entity_id = oci_core_service_gateway.oic[0].id
  }
}

# No rules: it replaces the VCN's default security list on both subnets.
resource "oci_core_security_list" "none" {
  count          = local.create_network ? 1 : 0
  compartment_id = var.compartment_ocid
  vcn_id         = oci_core_vcn.oic[0].id
  display_name   = "${var.name_prefix}-no-rules"
}

resource "oci_core_subnet" "gateway" {
  count                      = local.create_network ? 1 : 0
  compartment_id             = var.compartment_ocid
  vcn_id                     = oci_core_vcn.oic[0].id
  display_name               = "${var.name_prefix}-gateway"
  cidr_block                 = cidrsubnet(var.vcn_cidr, 8, 1)
  dns_label                  = "gateway"
  prohibit_public_ip_on_vnic = false
  route_table_id             = oci_core_route_table.gateway[0].id
  security_list_ids          = [oci_core_security_list.none[0].id]
}

resource "oci_core_subnet" "functions" {
  count                      = local.create_network ? 1 : 0
  compartment_id             = var.compartment_ocid
  vcn_id                     = oci_core_vcn.oic[0].id
  display_name               = "${var.name_prefix}-functions"
  cidr_block                 = cidrsubnet(var.vcn_cidr, 8, 2)
  dns_label                  = "functions"
  prohibit_public_ip_on_vnic = true
  route_table_id             = oci_core_route_table.functions[0].id
  security_list_ids          = [oci_core_security_list.none[0].id]
}

resource "oci_core_network_security_group" "chain" {
  for_each       = local.network
  compartment_id = var.compartment_ocid
  vcn_id         = oci_core_vcn.oic[0].id
  display_name   = "${var.name_prefix}-${each.key}"
}

locals {
  # (group, direction, peer, peer type): TCP 443 each.
  nsg_rules = local.create_network ? {
    gateway-in-443        = ["gateway", "INGRESS", var.gateway_ingress_cidr, "CIDR_BLOCK"]
    gateway-out-443       = ["gateway", "EGRESS", "0.0.0.0/0", "CIDR_BLOCK"]
    functions-out-443     = ["functions", "EGRESS", "0.0.0.0/0", "CIDR_BLOCK"]
    functions-out-service = ["functions", "EGRESS", local.all_services.cidr_block, "SERVICE_CIDR_BLOCK"]
  } : {}
}

resource "oci_core_network_security_group_security_rule" "chain" {
  for_each                  = local.nsg_rules
  network_security_group_id = oci_core_network_security_group.chain[each.value[0]].id
  description               = "${var.name_prefix} ${each.key}"
  direction                 = each.value[1]
  protocol                  = "6" # TCP
  source                    = each.value[1] == "INGRESS" ? each.value[2] : null
  source_type               = each.value[1] == "INGRESS" ? each.value[3] : null
  destination               = each.value[1] == "EGRESS" ? each.value[2] : null
  destination_type          = each.value[1] == "EGRESS" ? each.value[3] : null
  stateless                 = false
  tcp_options {
    destination_port_range {
      min = 443
      max = 443
    }
  }
}
