FROM python:3.11-slim
WORKDIR /srv/coopchain
# x16r_hash ships only as source: its C pool (the RPCA16 seal's 16 hash functions) is compiled at install.
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
COPY app app
COPY models models
COPY chain chain
COPY examples examples
RUN pip install --no-cache-dir .
# The main job on the embedded default (SQLite in the working folder); later the API becomes the entry point.
CMD ["coopchain", "demo"]
