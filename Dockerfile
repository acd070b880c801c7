FROM python:3.11-slim
WORKDIR /srv/coopchain
COPY pyproject.toml README.md ./
COPY app app
COPY models models
COPY chain chain
COPY examples examples
RUN pip install --no-cache-dir .
# The sample runs against the embedded default; later the API becomes the entry point.
CMD ["coopchain", "demo"]
