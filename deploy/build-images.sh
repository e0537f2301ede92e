#!/bin/sh
# Build both function images exactly as `fn deploy` does (fn build: the
# func.yaml of each function, its build_image and run_image), tag them
# <repository>/<name>:<version>[-<suffix>] and push them to OCIR. Terraform
# runs this as its named step terraform_data.function_images, with a suffix
# from the sources' hash so that every change of code gets a new tag (and the
# functions a new image). It works on its own too:
#   deploy/build-images.sh iad.ocir.io/<namespace>/oic-gateway [suffix]
# Needs the fn CLI, Docker and `docker login <region-key>.ocir.io`. Never
# bumps func.yaml's version (fn build does not; only fn deploy without
# --no-bump does).
set -eu
repository="${1:?usage: deploy/build-images.sh <region-key>.ocir.io/<namespace>/<repo> [suffix]}"
suffix="${2:+-$2}"
root="$(cd "$(dirname "$0")/.." && pwd)"
for dir in "$root" "$root/token_exchange"; do
    name="$(sed -n 's/^name: *//p' "$dir/func.yaml")"
    version="$(sed -n 's/^version: *//p' "$dir/func.yaml")"
    (cd "$dir" && FN_REGISTRY="$repository" fn build)
    if [ -n "$suffix" ]; then
        docker tag "$repository/$name:$version" "$repository/$name:$version$suffix"
    fi
    docker push "$repository/$name:$version$suffix"
done
