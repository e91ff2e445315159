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
ENV AzureWebJobsScriptRoot=/home/site/wwwroot \
    AzureFunctionsJobHost__Logging__Console__IsEnabled=true \
    FUNCTIONS_WORKER_RUNTIME=custom
COPY host.json /home/site/wwwroot/
COPY functions/ /home/site/wwwroot/
COPY --from=build /out/exportguard /home/site/wwwroot/exportguard
