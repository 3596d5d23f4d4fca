# Multi-stage build: a static, cgo-free binary on a distroless base,
# running as a non-root user (65532). Its config is
# deploy/docker/gateway.yaml: all interfaces, the SQLite file in the
# /app/data volume, GATEHOUSE_SECRET required.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath \
      -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/gatehouse ./cmd/gatehouse \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
WORKDIR /app
COPY --from=build /out/gatehouse /usr/local/bin/gatehouse
COPY --from=build --chown=65532:65532 /out/data /app/data
COPY deploy/docker/gateway.yaml /app/gateway.yaml
USER 65532:65532
ENV GATEHOUSE_CONFIG=/app/gateway.yaml
VOLUME /app/data
EXPOSE 8080 9090
ENTRYPOINT ["/usr/local/bin/gatehouse"]
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s CMD ["/usr/local/bin/gatehouse", "health"]
CMD ["serve"]
