# Builds the agent into a small Debian 12 image that carries OpenSSH's
# sshd (the agent validates configurations with `sshd -t`). Mount the host's
# filesystem and point --root at it, e.g.
#   docker run --rm -v /:/host:ro sshconverge/agent show --root /host sshd
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/agent ./cmd/agent

FROM debian:12-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends openssh-server \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/agent /usr/local/bin/agent
ENTRYPOINT ["/usr/local/bin/agent"]
