# sshconverge in a container, converging the HOST's OpenSSH configuration:
#
#   docker build -t sshconverge \
#     --build-arg VERSION=1.2.0 --build-arg COMMIT="$(git rev-parse HEAD)" \
#     --build-arg DATE="$(date -u +%Y-%m-%dT%H:%M:%SZ)" .
#   docker run --rm --privileged --pid=host -v /:/host \
#     sshconverge --root /host --check --diff /host/etc/sshconverge/desired.yaml
#
# Drop --check to apply. What a run needs from the host (docs/install.md,
# "Container", says why):
# - the host's file system under --root (-v /:/host). The state directory,
#   the lock and the metrics file are taken under --root, so they land on
#   the host (/host/var/lib/sshconverge, /host/run/sshconverge.lock).
# - the host's pid namespace (--pid=host): the agent finds the host's sshd
#   through its pid file, validates with `sshd -t` inside sshd's own mount
#   namespace (nsenter: the host's sshd binary, libraries and files, so
#   this image carries no OpenSSH), and reloads it with SIGHUP, which
#   --reload auto picks for a --root other than /.
# - --privileged: setns(2) into sshd's mount namespace needs CAP_SYS_ADMIN
#   and CAP_SYS_CHROOT, opening its /proc/PID/ns/mnt needs CAP_SYS_PTRACE,
#   and Docker's default seccomp and AppArmor profiles refuse setns, mount
#   and ptrace reads of processes outside the container.
# - --reload systemd instead needs the host's /run/systemd mounted,
#   SYSTEMD_IGNORE_CHROOT=1 and a systemctl, which this image lacks.
#
# The final stage is debian:12-slim as it is, with nothing installed: it
# already has the one tool the agent runs besides sshd, nsenter
# (util-linux, Essential), to start sshd again in its namespaces when a
# reload stopped it. A distroless or scratch image lacks it.

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
