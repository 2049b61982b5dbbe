# sshconverge in a container, converging the HOST's OpenSSH configuration:
#
#   docker build -t sshconverge \
#     --build-arg VERSION=1.2.0 --build-arg COMMIT="$(git rev-parse HEAD)" \
#     --build-arg DATE="$(date -u +%Y-%m-%dT%H:%M:%SZ)" .
#   docker run --rm -v /:/host --pid=host \
#     -v /etc/sshconverge/desired.yaml:/desired.yaml:ro \
#     sshconverge --root /host --check /desired.yaml
#
# Drop --check to apply. What a run needs from the host (see
# docs/install.md, "Container"):
# - the host's file system under --root (-v /:/host). The state directory,
#   the lock and the metrics file are taken under --root too, so they land
#   on the host (/host/var/lib/sshconverge, /host/run/sshconverge.lock).
# - the host's pid namespace (--pid=host) and root with CAP_SYS_ADMIN,
#   CAP_SYS_CHROOT and CAP_SYS_PTRACE (docker's default set lacks the
#   first and last: add --cap-add SYS_ADMIN --cap-add SYS_PTRACE, or use
#   --privileged): with them the agent finds the host's sshd through its
#   pid file, validates with `sshd -t` inside sshd's own mount namespace
#   (nsenter; so the host's sshd binary and libraries are used, and this
#   image carries no OpenSSH), and reloads it with SIGHUP. --reload auto
#   picks that signal for a --root other than /.
# - for --reload systemd instead: the host's /run/systemd
#   (-v /run/systemd:/run/systemd) and -e SYSTEMD_IGNORE_CHROOT=1 (systemctl
#   sees that its / is not PID 1's and would otherwise do nothing), and a
#   systemctl in the image, which this one does not carry. The signal is
#   what ssh.service's own ExecReload sends, so it is the simpler choice.
#
# The final stage is debian:12-slim as it is, with nothing installed: it
# already has the tools the agent runs besides sshd, all from Essential or
# required packages: nsenter and unshare (util-linux), mount (mount), sh
# (dash). A distroless or scratch image lacks them.

# ---- build: a static binary, stamped with the version -----------------------
FROM golang:1.26-bookworm AS build
ARG VERSION=dev
ARG COMMIT=unknown
ARG DATE=unknown
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The same command as packaging/deb/build.sh and the README's build line.
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT} -X main.date=${DATE}" -o /out/sshconverge ./cmd/agent

# ---- run ----------------------------------------------------------------------
FROM debian:12-slim
ARG VERSION=dev
LABEL org.opencontainers.image.title="sshconverge" \
      org.opencontainers.image.description="Converges the OpenSSH configuration of the host mounted at --root" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /out/sshconverge /usr/bin/sshconverge
ENTRYPOINT ["/usr/bin/sshconverge"]
CMD ["--help"]
