# The retrycoord agent as an image FROM scratch: one static binary, no shell.
# Build it with `make docker` (scripts/docker-build.sh): no base image can be
# pulled, so the host's Go toolchain builds bin/retrycoord first
# (CGO_ENABLED=0, -trimpath) and this file only copies it in.
FROM scratch
COPY docker/agent/rootfs/ /
COPY bin/retrycoord /usr/bin/retrycoord
# 65532 is "nonroot" in docker/agent/rootfs/etc/passwd.
USER 65532:65532
# gossip (tcp+udp), admin API and metrics, forward proxy
EXPOSE 7946/tcp 7946/udp 7947/tcp 7948/tcp
# `health` asks the local API (127.0.0.1:7947, RETRYCOORD_ADDR) for /v1/ready.
HEALTHCHECK --interval=2s --timeout=3s --start-period=30s --retries=3 CMD ["/usr/bin/retrycoord", "health", "--timeout", "2s"]
ENTRYPOINT ["/usr/bin/retrycoord"]
# The forward proxy listens beyond loopback here, so the agent refuses to start
# without RETRYCOORD_PROXY_AUTH=user:password (or RETRYCOORD_PROXY_OPEN=true for
# an open proxy on purpose, as docker-compose.yml does on its private network).
CMD ["agent", "--gossip-bind", "0.0.0.0:7946", "--api-addr", "0.0.0.0:7947", "--proxy-addr", "0.0.0.0:7948", "--log-format", "json"]
