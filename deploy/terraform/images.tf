# The function images. Terraform is a complete deployment path on its own:
# with ocir_repository set, the named step below builds both images exactly
# as `fn deploy` would (`fn build`, the func.yaml of each function) and pushes
# them (deploy/build-images.sh) as <name>:<version>-<sources hash>; it runs
# again whenever a source file or a func.yaml version changes. Without it,
# give pre-built images.
# Needs, on the machine running terraform: the fn CLI, Docker, and a
# `docker login <region-key>.ocir.io` (docs/setup-oci.md: "B. Terraform").

locals {
  function_dirs = { authorizer = "${path.module}/../..", token_exchange = "${path.module}/../../token_exchange" }
  versions      = { for name, dir in local.function_dirs : name => yamldecode(file("${dir}/func.yaml")).version }
  images = {
    authorizer     = var.ocir_repository != "" ? "${var.ocir_repository}/oic-authorizer:${local.versions.authorizer}-${local.tag}" : var.authorizer_image
    token_exchange = var.ocir_repository != "" ? "${var.ocir_repository}/oic-token-exchange:${local.versions.token_exchange}-${local.tag}" : var.token_exchange_image
  }
  sources = sha1(join("", [
    for source in sort(concat(
      [for f in fileset("${path.module}/../..", "{func.py,func.yaml,requirements.txt,authorizer/*.py}") : "${path.module}/../../${f}"],
      [for f in fileset("${path.module}/../../token_exchange", "**/{*.py,func.yaml,requirements.txt}") : "${path.module}/../../token_exchange/${f}"],
    )) : filesha1(source)
  ]))
  # func.yaml's version plus this: a code change is a new tag, so the
  # functions move to the new image even when nobody bumped the version.
  tag = substr(local.sources, 0, 10)
}

resource "terraform_data" "function_images" {
  count            = var.ocir_repository != "" ? 1 : 0
  triggers_replace = [local.sources, local.images.authorizer, local.images.token_exchange]

  provisioner "local-exec" {
    command = "${path.module}/../build-images.sh ${var.ocir_repository} ${local.tag}"
  }
}
