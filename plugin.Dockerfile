# Packages any experiment engine plugin executable as a plugin image (Turing's contract).
#
#   docker build -f plugin.Dockerfile --build-arg PLUGIN=path/to/my-plugin -t my-plugin:1.0 .
#
# PLUGIN is the executable, relative to the build context: a Go binary (build it with
# CGO_ENABLED=0 so it needs no libc) or a Python zipapp (the pod that runs it needs
# python3 >= 3.11: Turnout's image has it). The image's command copies it to
# ${PLUGINS_DIR}/${PLUGIN_NAME} and fails with a clear message if either is unset:
# run it as an initContainer with a shared volume at PLUGINS_DIR.

FROM busybox:1.36
ARG PLUGIN
ENV PLUGINS_DIR="" \
    PLUGIN_NAME=""
COPY packaging/plugin-install.sh /usr/local/bin/plugin-install
COPY ${PLUGIN} /plugin/plugin
USER 65532:65532
CMD ["/usr/local/bin/plugin-install", "/plugin/plugin"]
