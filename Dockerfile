# syntax=docker/dockerfile:1
# The souk image: one static binary on distroless, run as a numeric non-root user.
#   docker build -t souk:0.15.0 --build-arg VERSION=0.15.0 .
#   docker run --rm souk:0.15.0 version
# Every service and the gateway run from it: `run <service>`, `run gateway`, `migrate`.
# Not built on the development machine (no container engine there): infra/deploy_test.go
# parses this file and checks its stages, flags and user; see docs/operations.md.

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION} AS build
WORKDIR /src
# The module graph first: a change to the code leaves this layer cached.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
# Static (no libc: distroless/static has none), reproducible paths, no symbol table; the
# version shows in `souk version` and in every service's micro info.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=linux go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X main.version=${VERSION}" -o /out/souk ./cmd/souk

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/souk /souk
# 65532 is distroless's nonroot user; numeric, so that Kubernetes' runAsNonRoot can verify it.
USER 65532:65532
# 8080: the gateway; 9090: the ops listener of a process without a gateway (SOUK_OPS_ADDR).
EXPOSE 8080 9090
ENV SOUK_HTTP_ADDR=0.0.0.0:8080 SOUK_LOG_FORMAT=json
# souk probe asks the process in this container (SOUK_OPS_ADDR, else the gateway's address):
# the image has no shell and no curl.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 CMD ["/souk", "probe", "/healthz"]
ENTRYPOINT ["/souk"]
CMD ["run"]
