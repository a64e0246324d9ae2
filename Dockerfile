# tsunagi in a container: one process, one port, data in /data (mount a volume there to keep it).
#   docker build -t tsunagi .
#   docker run --rm -p 4566:4566 -v tsunagi-data:/data tsunagi
# The server binds 0.0.0.0 inside the container; publish the port on 127.0.0.1 only
# (-p 127.0.0.1:4566:4566) unless other machines should reach it, and see docs/SECURITY.md.
FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir build && python -m build --wheel --outdir /dist

FROM python:3.12-slim
RUN useradd --system --home-dir /data --create-home tsunagi
COPY --from=build /dist/*.whl /tmp/
RUN pip install --no-cache-dir /tmp/*.whl && rm /tmp/*.whl
USER tsunagi
WORKDIR /data
ENV TSUNAGI_HOST=0.0.0.0 TSUNAGI_DATA_DIR=/data
EXPOSE 4566
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=5s --timeout=3s --start-period=30s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:4566/_tsunagi/health', timeout=2)"
ENTRYPOINT ["tsunagi", "serve"]
