# The function app as a container: the Azure Functions host with exportguard as
# its custom handler, laid out as `make package` lays out dist/ (host.json, one
# folder per function, the binary beside them). docker-compose.yml runs it
# against local emulators; it also runs on any container host that runs the
# Functions base images.
#
#   docker build -t exportguard-functions .
#
# No Docker engine runs where exportguard is built and tested: this file is
# checked by compose_test.go, not built there.

ARG GO_VERSION=1.26

# Build the handler: a static linux binary (pure Go; modernc.org/sqlite needs no cgo).
FROM golang:${GO_VERSION} AS build
ARG TARGETOS=linux
ARG TARGETARCH=amd64
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} go build -trimpath -ldflags="-s -w" -o /out/exportguard .

# The Functions host. Core Tools generates custom-handler Dockerfiles on this
# image (func init --worker-runtime custom --docker); the handler needs nothing
# from it but the host.
FROM mcr.microsoft.com/azure-functions/dotnet:4
# The host listens on 8080, not 80, so that it runs as a user without the
# right to bind a privileged port (https://github.com/Azure/azure-functions-docker/issues/424).
ENV AzureWebJobsScriptRoot=/home/site/wwwroot \
    AzureFunctionsJobHost__Logging__Console__IsEnabled=true \
    FUNCTIONS_WORKER_RUNTIME=custom \
    ASPNETCORE_URLS=http://+:8080 \
    HOME=/home
# A fixed, unprivileged user. The host writes under HOME (/home/LogFiles,
# /home/data) and into its own folders; the app's files below stay root's,
# readable and not writable by the user that runs them.
RUN groupadd --system --gid 10001 exportguard && \
    useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin exportguard && \
    mkdir -p /home/site/wwwroot /home/LogFiles /home/data && \
    chown -R 10001:10001 /home/LogFiles /home/data && \
    for d in /azure-functions-host /FuncExtensionBundles; do [ ! -d "$d" ] || chown -R 10001:10001 "$d"; done
COPY host.json /home/site/wwwroot/
COPY functions/ /home/site/wwwroot/
COPY --from=build /out/exportguard /home/site/wwwroot/exportguard
USER 10001:10001
EXPOSE 8080
# The base image has no curl to count on: the handler binary asks the health
# function through the host (exportguard health; loopback only).
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["/home/site/wwwroot/exportguard", "health", "--url", "http://127.0.0.1:8080/api/health"]
