# The titan-perf preload as an init image: it copies the zero-install preload
# (dist/preload-bundle, from `npm run build`) into a volume that the app
# container mounts at /titan-perf, and exits. The app then starts with
#   NODE_OPTIONS="--require /titan-perf/preload.js"
# Build from the repository root:
#   podman build -f deploy/images/preload-init.Dockerfile --build-arg BASE=debian:12.11-slim -t titan-perf-preload-init .
# Pin BASE by version or digest (debian:12.11-slim@sha256:...); any image with cp works.
ARG BASE=debian:12.11-slim
FROM ${BASE}
COPY dist/preload-bundle/ /opt/titan-perf-preload/
# Readable by any uid the app runs as; the copy keeps the modes.
RUN chmod -R a+rX /opt/titan-perf-preload
# No root needed to copy into an emptyDir (Kubernetes makes it writable by the pod).
USER 65532:65532
ENTRYPOINT ["cp", "-R", "/opt/titan-perf-preload/.", "/titan-perf/"]
